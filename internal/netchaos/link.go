package netchaos

import (
	"container/heap"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Impairment describes what one direction of the link does to datagrams.
// The zero value forwards everything at once.
type Impairment struct {
	Loss      float64       // probability a datagram is dropped (0..1)
	Duplicate float64       // probability a datagram is delivered twice
	Delay     time.Duration // fixed one-way delay
	Jitter    time.Duration // extra delay, uniform in [0, Jitter); reorders
	Reorder   float64       // probability a datagram is held back ReorderBy
	ReorderBy time.Duration // default 10ms
	// RateBytes caps throughput in bytes/s (0: unlimited). Datagrams wait
	// in a queue of at most QueueBytes (default 64 KiB); beyond it they are
	// dropped.
	RateBytes  int
	QueueBytes int
}

// DirStats counts what happened to the datagrams of one direction.
type DirStats struct {
	In         uint64 // datagrams received
	Out        uint64 // datagrams delivered (duplicates included)
	Lost       uint64 // dropped by Loss
	Blackout   uint64 // dropped while the link was down
	QueueDrops uint64 // dropped by a full rate-limit queue
	Duplicated uint64 // extra copies delivered
	Reordered  uint64 // held back by Reorder
}

const maxQueued = 16384 // datagrams scheduled per direction

type packet struct {
	at   time.Time
	seq  uint64 // tie-break: FIFO among equal times
	data []byte
	send func([]byte)
}

type packetHeap []*packet

func (h packetHeap) Len() int { return len(h) }
func (h packetHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)   { *h = append(*h, x.(*packet)) }
func (h *packetHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	*h = old[:len(old)-1]
	return p
}

// link is one direction: it schedules datagrams and delivers them from its
// own goroutine.
type link struct {
	r *Relay

	mu       sync.Mutex // protects everything below
	imp      Impairment
	rng      *rand.Rand
	queue    packetHeap
	seq      uint64
	nextFree time.Time // when the rate-limited line is free again

	wake chan struct{} // cap 1: the head of the queue changed

	in, out, lost, blackout, queueDrops, duplicated, reordered atomic.Uint64
}

func newLink(r *Relay, seed uint64) *link {
	return &link{r: r, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), wake: make(chan struct{}, 1)}
}

func (l *link) set(imp Impairment) {
	if imp.ReorderBy == 0 {
		imp.ReorderBy = 10 * time.Millisecond
	}
	if imp.QueueBytes == 0 {
		imp.QueueBytes = 64 << 10
	}
	l.mu.Lock()
	l.imp = imp
	l.mu.Unlock()
}

// submit schedules a datagram (copied) for delivery through send.
func (l *link) submit(data []byte, send func([]byte)) {
	l.in.Add(1)
	now := time.Now()
	if l.r.isDown(now) {
		l.blackout.Add(1)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	imp := l.imp
	if imp.Loss > 0 && l.rng.Float64() < imp.Loss {
		l.lost.Add(1)
		return
	}
	at := now
	if imp.RateBytes > 0 {
		start := now
		if l.nextFree.After(now) {
			start = l.nextFree
		}
		if queued := start.Sub(now).Seconds() * float64(imp.RateBytes); queued > float64(imp.QueueBytes) {
			l.queueDrops.Add(1)
			return
		}
		l.nextFree = start.Add(time.Duration(float64(len(data)) / float64(imp.RateBytes) * float64(time.Second)))
		at = l.nextFree
	}
	copies := 1
	if imp.Duplicate > 0 && l.rng.Float64() < imp.Duplicate {
		copies = 2
		l.duplicated.Add(1)
	}
	for range copies {
		t := at.Add(imp.Delay)
		if imp.Jitter > 0 {
			t = t.Add(time.Duration(l.rng.Int64N(int64(imp.Jitter))))
		}
		if imp.Reorder > 0 && l.rng.Float64() < imp.Reorder {
			t = t.Add(imp.ReorderBy)
			l.reordered.Add(1)
		}
		if len(l.queue) >= maxQueued {
			l.queueDrops.Add(1)
			continue
		}
		l.seq++
		heap.Push(&l.queue, &packet{at: t, seq: l.seq, data: append([]byte(nil), data...), send: send})
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run delivers scheduled datagrams until the relay closes.
func (l *link) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.mu.Lock()
		var due *packet
		wait := time.Hour
		if len(l.queue) > 0 {
			if d := time.Until(l.queue[0].at); d <= 0 {
				due = heap.Pop(&l.queue).(*packet)
			} else {
				wait = d
			}
		}
		l.mu.Unlock()
		if due != nil {
			if l.r.isDown(time.Now()) {
				l.blackout.Add(1)
			} else {
				due.send(due.data)
				l.out.Add(1)
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-l.r.done:
			return
		case <-l.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (l *link) stats() DirStats {
	return DirStats{
		In: l.in.Load(), Out: l.out.Load(), Lost: l.lost.Load(), Blackout: l.blackout.Load(),
		QueueDrops: l.queueDrops.Load(), Duplicated: l.duplicated.Load(), Reordered: l.reordered.Load(),
	}
}

package agent

import (
	"hash/maphash"
	"sync"

	"github.com/edgelog/edgelog/record"
)

// maxUnacked bounds the stored-but-unacknowledged records the agent
// remembers to recognise retransmissions: those of closed connections and
// those found at start (records of live connections awaiting their ack are
// bounded by MaxPending each). Beyond it the oldest are forgotten, and a
// retransmission of one of those is stored again: at least once, never lost.
// It is also how many records the start-up scan reads at most.
const maxUnacked = 1 << 16

// unacked is a stored QoS 1/2 record its client has not been acknowledged
// for: the most recent record of that client with that packet ID.
type unacked struct {
	gen     uint64 // identifies the record in its client's table
	sum     uint64 // contentSum of the record
	durable bool   // its commit succeeded (false: still being committed)
	acking  bool   // its ack is being written
}

// dupWaiter is a retransmission queued on connection c as entry id, waiting
// for the commit of the record it repeats.
type dupWaiter struct {
	c  *conn
	id uint64
}

// clientState is the retransmission state of one client ID, shared by its
// successive connections and by the records recovered at start.
type clientState struct {
	id string

	mu      sync.Mutex
	held    map[uint16]unacked     // mu: by packet ID
	waiting map[uint64][]dupWaiter // mu: by gen of the record waited for
	gen     uint64                 // mu: last gen handed out

	conns int // retransmits.mu: live connections using this state
}

// retransmits holds every client's state and the bounded list of durable,
// unacknowledged records, oldest first. Lock order: retransmits.mu or a
// conn's mu, then clientState.mu; nothing else is locked while
// clientState.mu is held.
type retransmits struct {
	seed maphash.Seed

	mu      sync.Mutex
	clients map[string]*clientState // mu
	ring    []ringRef               // mu: durable unacknowledged records, a ring
	head    int                     // mu: oldest entry of a full ring
}

type ringRef struct {
	cs  *clientState
	pid uint16
	gen uint64
}

func newRetransmits() *retransmits {
	return &retransmits{seed: maphash.MakeSeed(), clients: map[string]*clientState{}}
}

// contentSum identifies what a retransmission must repeat: topic, QoS,
// retain flag and payload.
func (r *retransmits) contentSum(topic string, qos byte, retain bool, payload []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(topic)
	flags := qos
	if retain {
		flags |= 4
	}
	h.Write([]byte{0, flags})
	h.Write(payload)
	return h.Sum64()
}

// attach returns id's state for a new connection.
func (r *retransmits) attach(id string) *clientState {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.stateLocked(id)
	cs.conns++
	return cs
}

func (r *retransmits) stateLocked(id string) *clientState {
	cs := r.clients[id]
	if cs == nil {
		cs = &clientState{id: id, held: map[uint16]unacked{}, waiting: map[uint64][]dupWaiter{}}
		r.clients[id] = cs
	}
	return cs
}

// detach is called when a connection using cs has answered everything.
func (r *retransmits) detach(cs *clientState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs.conns--
	r.dropIfUnusedLocked(cs)
}

func (r *retransmits) dropIfUnusedLocked(cs *clientState) {
	if cs.conns > 0 || r.clients[cs.id] != cs {
		return
	}
	cs.mu.Lock()
	empty := len(cs.held) == 0 && len(cs.waiting) == 0
	cs.mu.Unlock()
	if empty {
		delete(r.clients, cs.id)
	}
}

// remember records that cs's record (pid, gen) is durable and
// unacknowledged, forgetting the oldest such record beyond maxUnacked.
func (r *retransmits) remember(cs *clientState, pid uint16, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ref := ringRef{cs: cs, pid: pid, gen: gen}
	if len(r.ring) < maxUnacked {
		r.ring = append(r.ring, ref)
		return
	}
	old := r.ring[r.head]
	r.ring[r.head] = ref
	r.head = (r.head + 1) % len(r.ring)
	old.cs.mu.Lock()
	if u, ok := old.cs.held[old.pid]; ok && u.gen == old.gen && u.durable {
		delete(old.cs.held, old.pid)
	}
	old.cs.mu.Unlock()
	r.dropIfUnusedLocked(old.cs)
}

// recovered adds a durable record found in the WAL at start.
func (r *retransmits) recovered(id string, pid uint16, sum uint64) {
	r.mu.Lock()
	cs := r.stateLocked(id)
	r.mu.Unlock()
	cs.mu.Lock()
	cs.gen++
	gen := cs.gen
	cs.held[pid] = unacked{gen: gen, sum: sum, durable: true}
	cs.mu.Unlock()
	r.remember(cs, pid, gen)
}

// stored makes a record being committed the most recent one of (client,
// pid) and returns its gen.
func (cs *clientState) stored(pid uint16, sum uint64) uint64 {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.gen++
	cs.held[pid] = unacked{gen: cs.gen, sum: sum}
	return cs.gen
}

// match looks for the record a DUP publish (pid, sum) repeats: the most
// recent record with pid, of the same content, whose ack is not being or
// has not been written. If there is one, it returns its gen and whether it
// is durable; if it is still being committed, w is queued to be resolved
// with the commit's outcome.
func (cs *clientState) match(pid uint16, sum uint64, w dupWaiter) (gen uint64, durable, ok bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	u, ok := cs.held[pid]
	if !ok || u.sum != sum || u.acking {
		return 0, false, false
	}
	if !u.durable {
		cs.waiting[u.gen] = append(cs.waiting[u.gen], w)
	}
	return u.gen, u.durable, true
}

// acking marks record (pid, gen), committed, as being acknowledged: from
// now on a DUP with its packet ID is a new publication. It appends the
// retransmissions that waited for the commit to ws.
func (cs *clientState) acking(pid uint16, gen uint64, ws []dupWaiter) []dupWaiter {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if w, ok := cs.waiting[gen]; ok {
		ws = append(ws, w...)
		delete(cs.waiting, gen)
	}
	if u, ok := cs.held[pid]; ok && u.gen == gen {
		u.acking = true
		cs.held[pid] = u
	}
	return ws
}

// acked settles record (pid, gen) after acking: forgotten once its ack was
// written, kept as durable and unacknowledged if it could not be (the
// connection is gone). It reports whether the record just became durable
// and unacknowledged, for the caller to remember it.
func (cs *clientState) acked(pid uint16, gen uint64, written bool) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	u, ok := cs.held[pid]
	if !ok || u.gen != gen {
		return false
	}
	if written {
		delete(cs.held, pid)
		return false
	}
	was := u.durable
	u.durable, u.acking = true, false
	cs.held[pid] = u
	return !was
}

// failed forgets record (pid, gen), whose commit failed, and returns the
// retransmissions that waited for it.
func (cs *clientState) failed(pid uint16, gen uint64) []dupWaiter {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	ws := cs.waiting[gen]
	delete(cs.waiting, gen)
	if u, ok := cs.held[pid]; ok && u.gen == gen {
		delete(cs.held, pid)
	}
	return ws
}

// retransmission queues a DUP publish that repeats a record of this client
// stored but not acknowledged (see doc.go): it is answered once that
// record is durable, and not stored again. It reports whether e was one.
func (c *conn) retransmission(e entry, sum uint64) bool {
	c.mu.Lock()
	gen, durable, ok := c.cs.match(e.pid, sum, dupWaiter{c: c, id: c.nextID + 1})
	start := false
	if ok {
		e.dup, e.gen, e.done = true, gen, durable
		start = c.pushLocked(e)
	}
	c.mu.Unlock()
	if start {
		c.startWorker()
	}
	if ok && durable {
		c.signal(c.wake)
	}
	return ok
}

// resolve marks the retransmission id done once the record it repeats is
// durable (err nil) or has failed.
func (c *conn) resolve(id uint64, err error) {
	c.mu.Lock()
	for i := c.nDone; i < len(c.q); i++ {
		if e := &c.q[i]; e.id == id {
			e.done, e.err = true, err
			break
		}
	}
	c.advance()
	c.mu.Unlock()
	c.signal(c.wake)
}

// scanUnacked remembers the QoS 1/2 records at the WAL's tail as stored
// but not acknowledged: the previous process may have crashed between
// their commit and their ack, and their clients then retransmit them. It
// reads the last maxUnacked records, from the start of the second-to-last
// segment at the earliest (at most MaxDisk/8 bytes): a record still
// waiting for its ack at a crash was committed moments before it, so it
// is in the last segment, or in the one before after a rotation.
func (a *Agent) scanUnacked() (int, error) {
	from := a.wal.First()
	if starts := a.wal.SegmentStarts(); len(starts) >= 2 {
		from = max(from, starts[len(starts)-2])
	}
	if next := a.wal.Next(); next > maxUnacked {
		from = max(from, next-maxUnacked)
	}
	r, err := a.wal.NewReader(from)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n := 0
	for {
		_, p, ok, err := r.TryNext()
		if err != nil || !ok {
			return n, err
		}
		rec, err := record.Decode(p)
		if err != nil || rec.QoS == 0 || rec.PacketID == 0 {
			continue
		}
		a.rt.recovered(rec.ClientID, rec.PacketID, a.rt.contentSum(rec.Topic, rec.QoS, rec.Retain, rec.Payload))
		n++
	}
}

package agent

import (
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// work is the connection's worker: it answers done entries in order, then
// hands the committed publishes to local subscribers. Acks come first: a
// batch's acks are written before its publishes are delivered, and
// delivery stops whenever further entries are done, so fan-out to local
// subscribers does not hold up acknowledgements. Delivery keeps receive
// order (outbox is a FIFO; retained publishes wait for it, see answer). It
// lags acks by at most 2·MaxPending publishes: past MaxPending waiting in
// the outbox, the worker delivers before it answers again, and the
// connection's queue (hence its reading) waits for it. mochi queues each
// outgoing message (at most Config.OutboundQueue per client) and drops
// what does not fit, but delivering at QoS 1/2 takes the subscriber's
// client lock, which a write blocked on its full socket holds for up to
// Config.WriteTimeout (see doc.go): one delivery can wait that long, and
// the acks of the entries that came due meanwhile wait with it.
//
// The worker exits once its queue has stayed empty, with everything
// delivered, for a whole workerLinger period (see next); the push that next
// fills the queue starts another.
func (c *conn) work() {
	defer c.a.acks.Done()
	var (
		batch []entry
		out   ackBuf
		box   outbox
	)
	idle := c.idleTimer()
	defer idle.t.Stop()
	for {
		var ok bool
		if batch, ok = c.next(batch[:0], box.pending() == 0, idle); !ok {
			return
		}
		for i := range batch {
			c.answer(&batch[i], &out, &box)
		}
		c.flush(&out)
		clear(batch)
		for box.pending() > 0 {
			c.deliver(box.pop())
			if box.pending() < c.max && c.answersDue() {
				break
			}
		}
	}
}

// next takes the done prefix of the queue into batch. With nothing done it
// returns an empty batch if wait is false (deliveries are waiting), and
// otherwise waits for a done entry; once the queue has stayed empty for a
// whole workerLinger period it ends the worker (false). The linger spares
// a busy connection, whose queue empties at every group commit, a
// goroutine start per commit.
func (c *conn) next(batch []entry, wait bool, idle *idleTimer) ([]entry, bool) {
	c.mu.Lock()
	for c.nDone == 0 {
		if !wait {
			c.mu.Unlock()
			return batch, true
		}
		if len(c.q) == 0 && (c.closed || idle.expired()) {
			c.running = false
			if cap(c.q) > shrinkQueue {
				c.q = nil // a burst's backing array is not kept by an idle connection
			}
			detach := c.detachLocked()
			c.mu.Unlock()
			if detach {
				c.a.rt.detach(c.cs)
			}
			return nil, false
		}
		c.mu.Unlock()
		<-c.wake
		c.mu.Lock()
	}
	idle.active = true
	n := c.nDone
	batch = append(batch, c.q[:n]...)
	for _, e := range batch {
		if e.qos > 0 {
			c.nQoS--
		}
	}
	rest := copy(c.q, c.q[n:])
	clear(c.q[rest:])
	c.q, c.nDone = c.q[:rest], 0
	c.mu.Unlock()
	c.signal(c.space)
	return batch, true
}

// workerLinger is the period after which a worker that answered nothing
// exits (so after one to two periods of idleness).
const workerLinger = 100 * time.Millisecond

// idleTimer wakes a worker every workerLinger while it is idle. It is not
// touched per batch (a timer reset per batch costs more than the rest of
// the worker's bookkeeping): a batch only sets active.
type idleTimer struct {
	t      *time.Timer
	fired  atomic.Bool // a period ended and the worker was woken
	active bool        // worker: a batch was taken this period
}

func (c *conn) idleTimer() *idleTimer {
	it := &idleTimer{}
	it.t = time.AfterFunc(workerLinger, func() {
		it.fired.Store(true)
		c.signal(c.wake)
	})
	return it
}

// expired reports whether a whole period passed without a batch; if a
// period ended with batches, the next one starts.
func (it *idleTimer) expired() bool {
	if !it.fired.Load() {
		return false
	}
	if !it.active {
		return true
	}
	it.fired.Store(false)
	it.active = false
	it.t.Reset(workerLinger)
	return false
}

// shrinkQueue is the queue capacity above which an idle connection drops
// its queue's backing array.
const shrinkQueue = 64

// deliverAll delivers every publish waiting in box, in order.
func (c *conn) deliverAll(box *outbox) {
	for box.pending() > 0 {
		c.deliver(box.pop())
	}
}

// answersDue reports whether entries are done and waiting for answers.
func (c *conn) answersDue() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nDone > 0
}

// outbox holds a worker's committed, acknowledged publishes awaiting local
// delivery, in receive order.
type outbox struct {
	q    []*packets.Packet
	head int // q[head:] are pending
}

func (o *outbox) pending() int { return len(o.q) - o.head }

func (o *outbox) push(pk *packets.Packet) {
	if o.head > 0 && len(o.q) == cap(o.q) {
		n := copy(o.q, o.q[o.head:])
		clear(o.q[n:])
		o.q, o.head = o.q[:n], 0
	}
	o.q = append(o.q, pk)
}

func (o *outbox) pop() *packets.Packet {
	pk := o.q[o.head]
	o.q[o.head] = nil
	o.head++
	if o.head == len(o.q) {
		o.q, o.head = o.q[:0], 0
	}
	return pk
}

// deliver re-injects a committed publish into the broker through an inline
// client carrying the publisher's ID and protocol version (so no-local
// subscriptions and message expiry hold): mochi then retains it and queues
// it for matching subscribers. Inline clients hold no per-publisher state,
// so they are pooled rather than kept per connection.
func (c *conn) deliver(pk *packets.Packet) {
	a := c.a
	inj, _ := a.injectors.Get().(*mqtt.Client)
	if inj == nil {
		inj = a.server.NewClient(nil, mqtt.LocalListener, "", true)
	}
	inj.ID = c.cl.ID
	inj.Properties.ProtocolVersion = c.cl.Properties.ProtocolVersion
	err := a.server.InjectPacket(inj, *pk)
	a.injectors.Put(inj)
	if err != nil {
		a.log.Debug("agent: local delivery failed", "client", c.cl.ID, "topic", pk.TopicName, "err", err)
	}
}

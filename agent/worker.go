package agent

import (
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// work is the connection's worker: it answers done entries in order,
// re-injecting committed publishes for local subscribers (see answer). It
// exits once its queue has stayed empty for a whole workerLinger period
// (see next); the push that next fills the queue starts another.
func (c *conn) work() {
	defer c.a.acks.Done()
	var (
		batch []entry
		out   ackBuf
	)
	idle := c.idleTimer()
	defer idle.t.Stop()
	for {
		var ok bool
		if batch, ok = c.next(batch[:0], true, idle); !ok {
			return
		}
		for i := range batch {
			c.answer(&batch[i], &out)
		}
		c.flush(&out)
		clear(batch)
	}
}

// next takes the done prefix of the queue into batch. With nothing done it
// returns an empty batch if wait is false, and otherwise waits for a done
// entry; once the queue has stayed empty for a
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

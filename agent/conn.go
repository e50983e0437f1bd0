package agent

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/wal"
)

// frameOverhead is what the WAL adds to each record on disk.
const frameOverhead = 16

// closedPoll is how often a connection waiting for room re-checks whether
// it was closed meanwhile (mochi offers no channel for that).
const closedPoll = 100 * time.Millisecond

// conn is the agent's state for one client connection. Its publishes form
// a queue in receive order: the connection's read goroutine (inside
// OnPacketRead) appends entries, the WAL's commit goroutine marks them done
// in the same order (appends from one connection are sequential, so commit
// callbacks arrive in queue order), and the connection's worker (work)
// answers the done prefix. The worker runs only while the queue is not
// empty: the push that fills an empty queue starts it, and it exits once
// it has answered and delivered everything, so an idle connection costs
// no goroutine of the agent's.
type conn struct {
	a   *Agent
	cl  *mqtt.Client
	v5  bool
	max int
	// committed is the WAL callback, built once per connection.
	committed func(seq uint64, err error)

	// cs is the client's retransmission state (records stored but not
	// acknowledged, by packet ID), shared with its other connections.
	cs *clientState

	mu       sync.Mutex
	q        []entry // mu: publishes not yet answered, in receive order
	nDone    int     // mu: q[:nDone] are done
	nQoS     int     // mu: entries in q with QoS > 0
	nextID   uint64  // mu: id of the last entry pushed
	running  bool    // mu: a worker is running; true whenever q is not empty
	closed   bool    // mu: the connection is gone
	detached bool    // mu: cs was detached (once closed and idle)

	wake  chan struct{} // capacity 1: done entries or closure for the worker
	space chan struct{} // capacity 1: the worker made room in q

	doomed bool // read goroutine: a refusal will close this MQTT 3.1.1 connection
}

// entry is one publish awaiting its answer. An entry is either appended
// (done by its commit callback, in queue order) or refused (done when
// pushed) or, with dup set, a retransmission of a record already stored
// (done when that record is durable: resolve).
type entry struct {
	recv int64  // receive time, Unix nanoseconds
	cost int64  // quota bytes to release at commit (0 if not admitted)
	id   uint64 // per connection, in push order
	gen  uint64 // the record's gen in conn.cs (0: none, QoS 0 or refused)
	err  error  // done: nil when committed
	pk   *packets.Packet
	size int // payload bytes
	pid  uint16
	qos  byte
	done bool
	dup  bool
}

// connFor returns cl's conn, creating it once.
func (a *Agent) connFor(cl *mqtt.Client) *conn {
	if v, ok := a.conns.Load(cl); ok {
		return v.(*conn)
	}
	c := &conn{
		a: a, cl: cl, v5: cl.Properties.ProtocolVersion == 5, max: a.cfg.MaxPending,
		wake: make(chan struct{}, 1), space: make(chan struct{}, 1),
	}
	c.committed = c.onCommit
	c.cs = a.rt.attach(cl.ID)
	if v, loaded := a.conns.LoadOrStore(cl, c); loaded {
		a.rt.detach(c.cs)
		return v.(*conn)
	}
	return c
}

// publish handles one client publish on the connection's read goroutine.
// It reports whether the publish was queued (appended, refused to be
// answered in order, or recognised as a retransmission); for QoS 2 the
// caller has marked it in a.q2, and an answered entry releases that mark.
func (c *conn) publish(pk *packets.Packet) bool {
	a := c.a
	if c.doomed {
		return false // the connection closes once the refusal ahead is answered
	}
	now := time.Now()
	e := entry{recv: now.UnixNano(), pid: pk.PacketID, qos: pk.FixedHeader.Qos, size: len(pk.Payload)}
	if !c.reserve(e.qos) {
		return false
	}
	if !a.canPublish(c.cl, pk.TopicName) {
		c.refuse(e, fmt.Errorf("%w: topic %q is not in the device's publish ACL", ErrNotAuthorized, pk.TopicName))
		return true
	}
	var sum uint64
	if e.qos > 0 {
		sum = a.rt.contentSum(pk.TopicName, e.qos, pk.FixedHeader.Retain, pk.Payload)
		if pk.FixedHeader.Dup && !a.closing.Load() && c.retransmission(e, sum) {
			return true
		}
	}
	data, err := record.Encode(&record.Record{
		TimeMs: now.UnixMilli(), ClientID: c.cl.ID, Topic: pk.TopicName, QoS: e.qos,
		Retain: pk.FixedHeader.Retain, ContentType: pk.Properties.ContentType,
		UserProps: userProps(pk.Properties.User), Payload: pk.Payload, PacketID: pk.PacketID,
	})
	if err == nil {
		e.cost = int64(len(data) + frameOverhead)
		err = a.admit(e.cost)
	}
	if err != nil {
		e.cost = 0
		c.refuse(e, err)
		return true
	}
	if pk.FixedHeader.Retain || atomic.LoadInt64(&a.server.Info.Subscriptions) > 0 {
		e.pk = deliverable(pk)
	}
	if e.qos > 0 {
		e.gen = c.cs.stored(e.pid, sum)
	}
	c.push(e)
	if _, err := a.wal.AppendAsync(a.lifetime(), data, c.committed); err != nil {
		a.quota.release(e.cost)
		c.failLast(walError(err))
	}
	return true
}

// deliverable is the copy of pk the agent re-injects after the commit.
func deliverable(pk *packets.Packet) *packets.Packet {
	p := *pk
	p.FixedHeader.Dup = false
	p.Properties.TopicAlias, p.Properties.TopicAliasFlag = 0, false
	return &p
}

// admit checks that the WAL can take n more bytes now.
func (a *Agent) admit(n int64) error {
	switch {
	case a.closing.Load():
		return ErrClosing
	case a.failed.Load():
		return ErrWALFailed
	}
	return a.quota.admit(n)
}

// walError classifies an append or commit error.
func walError(err error) error {
	switch {
	case errors.Is(err, wal.ErrClosed):
		return fmt.Errorf("%w: %v", ErrClosing, err)
	case errors.Is(err, ErrClosing), errors.Is(err, ErrWALFailed), errors.Is(err, ErrFull):
		return err
	}
	return fmt.Errorf("%w: %v", ErrWALFailed, err)
}

// reserve waits until the queue has room for one more entry. An MQTT 5
// client that exceeds the Receive Maximum it was given is disconnected
// (false); other clients wait, which stops mochi from reading their
// connection.
func (c *conn) reserve(qos byte) bool {
	stalled := false
	for {
		c.mu.Lock()
		full, overQoS := len(c.q) >= c.max, qos > 0 && c.nQoS >= c.max
		c.mu.Unlock()
		if c.v5 && overQoS {
			c.a.reject(reasonReceiveMax, c.cl, fmt.Errorf("%w: more than %d QoS 1/2 publishes awaiting an ack", ErrInvalidPublish, c.max))
			_ = c.a.server.DisconnectClient(c.cl, packets.ErrReceiveMaximum)
			return false
		}
		if !full {
			return true
		}
		if !stalled {
			stalled = true
			c.a.met.stalls.Inc()
		}
		select {
		case <-c.space:
		case <-time.After(closedPoll):
			if c.cl.Closed() {
				return false
			}
		}
	}
}

// refuse queues a publish the WAL cannot take, to be answered in order.
func (c *conn) refuse(e entry, err error) {
	e.done, e.err = true, err
	if !c.v5 && e.qos > 0 {
		c.doomed = true
	}
	c.push(e)
	c.signal(c.wake)
}

func (c *conn) push(e entry) {
	c.mu.Lock()
	start := c.pushLocked(e)
	c.mu.Unlock()
	if start {
		c.startWorker()
	}
}

// pushLocked queues e and reports whether the caller must start the
// worker (after unlocking); mu held. Only the read goroutine pushes.
func (c *conn) pushLocked(e entry) (start bool) {
	c.nextID++
	e.id = c.nextID
	c.q = append(c.q, e)
	if e.qos > 0 {
		c.nQoS++
	}
	c.advance()
	start = !c.running
	c.running = true
	return start
}

// startWorker runs the worker for a queue that just became non-empty.
// Called on the read goroutine, so never after shutdown waits for the
// workers (mochi's Close returns once every read goroutine has ended).
func (c *conn) startWorker() {
	c.a.acks.Add(1)
	go c.work()
}

// failLast marks the entry just pushed as refused: its append failed, so
// no commit callback will come for it.
func (c *conn) failLast(err error) {
	c.a.noteWALError(err) // first: a client told of the failure finds the agent not ready
	c.mu.Lock()
	last := &c.q[len(c.q)-1]
	last.done, last.err = true, err
	qos := last.qos
	c.advance()
	c.mu.Unlock()
	if !c.v5 && qos > 0 {
		c.doomed = true
	}
	c.signal(c.wake)
}

// onCommit is the WAL commit callback (commit goroutine; must not block):
// it marks the oldest appended entry still waiting for its commit.
func (c *conn) onCommit(_ uint64, err error) {
	if err != nil {
		c.a.noteWALError(err) // first: a client told of the failure finds the agent not ready
	}
	var cost int64
	c.mu.Lock()
	for i := c.nDone; i < len(c.q); i++ {
		if e := &c.q[i]; !e.done && !e.dup {
			e.done, cost = true, e.cost
			if err != nil {
				e.err = walError(err)
			}
			break
		}
	}
	c.advance()
	c.mu.Unlock()
	c.a.quota.release(cost)
	c.signal(c.wake)
}

// advance extends the done prefix; mu held.
func (c *conn) advance() {
	for c.nDone < len(c.q) && c.q[c.nDone].done {
		c.nDone++
	}
}

func (c *conn) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// pending counts publishes not yet answered.
func (c *conn) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.q)
}

// close marks the connection gone. Its records' state is detached once
// everything is answered: now if the queue is empty, else by the worker.
func (c *conn) close() {
	c.mu.Lock()
	c.closed = true
	detach := c.detachLocked()
	c.mu.Unlock()
	if detach {
		c.a.rt.detach(c.cs)
	}
	c.signal(c.wake)
	c.signal(c.space)
}

// detachLocked reports, once, that the connection is closed and idle, so
// that its clientState can be detached; mu held.
func (c *conn) detachLocked() bool {
	if !c.closed || c.running || c.detached {
		return false
	}
	c.detached = true
	return true
}

package agent

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgelog/edgelog/record"
)

// answer acknowledges a committed publish and queues it for local
// delivery, or refuses one the WAL did not take. Success acks are gathered
// in out and written together (flush) when the batch ends or before
// anything else is written, so the connection's answers stay in receive
// order; deliveries follow the acks (see work). Runs on the connection's
// worker.
func (c *conn) answer(e *entry, out *ackBuf, box *outbox) {
	a := c.a
	if e.err != nil {
		if e.qos == 2 {
			a.q2.end(c.cl.ID, e.pid)
		}
		if e.gen != 0 && !e.dup {
			for _, w := range c.cs.failed(e.pid, e.gen) {
				w.c.resolve(w.id, e.err)
			}
		}
		c.flush(out)
		c.refused(e)
		return
	}
	switch {
	case e.pk == nil:
	case e.pk.FixedHeader.Retain:
		// Retain before acknowledging, so that a publisher that saw its ack
		// finds the retained message in place: the acks and deliveries of
		// the publishes before it first, then this one (mochi retains it
		// as it delivers it).
		c.flush(out)
		box.push(e.pk)
		c.deliverAll(box)
	default:
		box.push(e.pk)
	}
	// Count before acknowledging: a client that saw its ack sees the count.
	if e.dup {
		a.met.duplicates.Inc()
	} else {
		a.met.publishes[e.qos].Inc()
		a.met.bytes.Add(float64(e.size))
	}
	if e.qos > 0 {
		a.met.ackLatency.Observe(time.Duration(time.Now().UnixNano() - e.recv).Seconds())
	}
	switch e.qos {
	case 1:
		out.add(packets.Puback, e.pid)
		out.track(e)
	case 2:
		c.pubrec(e, out)
	}
}

// ackBuf holds encoded success PUBACKs/PUBRECs awaiting one write, and the
// records they acknowledge.
type ackBuf struct {
	b    []byte
	n    int      // packets in b
	recs []ackRef // records settled once b is written (or not)
}

// ackRef is a record an ack in an ackBuf acknowledges.
type ackRef struct {
	gen uint64
	pid uint16
}

// add appends a success PUBACK or PUBREC: the same four bytes in MQTT
// 3.1.1 and 5 (a version 5 ack with reason 0 and no properties may omit
// both).
func (o *ackBuf) add(kind byte, pid uint16) {
	o.b = append(o.b, kind<<4, 2, byte(pid>>8), byte(pid))
	o.n++
}

// track notes that the ack just added acknowledges e's record.
func (o *ackBuf) track(e *entry) {
	if e.gen != 0 {
		o.recs = append(o.recs, ackRef{gen: e.gen, pid: e.pid})
	}
}

// flush writes the gathered acks with one write under the client's write
// lock (the lock mochi's WritePacket holds), instead of one WritePacket and
// one syscall per ack.
func (c *conn) flush(out *ackBuf) {
	if out.n == 0 {
		return
	}
	c.acknowledge(out.recs, func() bool {
		cl := c.cl
		cl.Lock()
		defer cl.Unlock()
		if cl.Closed() || cl.Net.Conn == nil {
			return false
		}
		n, err := cl.Net.Conn.Write(out.b)
		if err != nil {
			return false
		}
		atomic.AddInt64(&c.a.server.Info.BytesSent, int64(n))
		atomic.AddInt64(&c.a.server.Info.PacketsSent, int64(out.n))
		return true
	})
	out.b, out.n, out.recs = out.b[:0], 0, out.recs[:0]
}

// acknowledge runs write, which writes the acks of the committed records
// recs, and settles the records around it: they stop counting as
// unacknowledged before an ack can reach the client (a DUP it sends after
// the ack is a new publication, MQTT §4.3.2), and stay known as durable and
// unacknowledged if write did not happen (the connection is gone), for
// their retransmission. Retransmissions that waited for the records'
// commit are answered.
func (c *conn) acknowledge(recs []ackRef, write func() bool) {
	var waiters []dupWaiter
	for _, r := range recs {
		waiters = c.cs.acking(r.pid, r.gen, waiters)
	}
	written := write()
	for _, r := range recs {
		if c.cs.acked(r.pid, r.gen, written) {
			c.a.rt.remember(c.cs, r.pid, r.gen)
		}
	}
	for _, w := range waiters {
		w.c.resolve(w.id, nil)
	}
}

// pubrec acknowledges a stored QoS 2 publish. The PUBREC goes into mochi's
// inflight map first, exactly as mochi does itself, so that mochi answers
// the PUBREL with a PUBCOMP, resends the PUBREC to a resumed session and
// treats a later retransmitted PUBLISH as a duplicate; copies that arrived
// while the first was being committed get a PUBREC each. If the session was
// taken over by a new connection meanwhile, the new one gets the state.
func (c *conn) pubrec(e *entry, out *ackBuf) {
	pid := e.pid
	ack := ackPacket(packets.Pubrec, pid, packets.CodeSuccess)
	now := time.Now().Unix()
	ack.Created, ack.Expiry = now, now+c.a.server.Options.Capabilities.MaximumMessageExpiryInterval
	target := c.cl
	if c.cl.IsTakenOver() {
		if cur, ok := c.a.server.Clients.Get(c.cl.ID); ok {
			target = cur
		}
	}
	if target.State.Inflight.Set(ack) {
		atomic.AddInt64(&c.a.server.Info.Inflight, 1)
		target.State.Inflight.DecreaseReceiveQuota()
	}
	copies := 1 + c.a.q2.end(c.cl.ID, pid)
	if target == c.cl {
		for range copies {
			out.add(packets.Pubrec, pid)
		}
		out.track(e)
		return
	}
	var recs []ackRef
	if e.gen != 0 {
		recs = []ackRef{{gen: e.gen, pid: pid}}
	}
	c.acknowledge(recs, func() bool {
		written := false
		for range copies {
			written = target.WritePacket(ack) == nil || written
		}
		return written
	})
}

// refused answers a publish that was not stored: MQTT 5 clients get a
// failure reason code, MQTT 3.1.1 clients are disconnected without an ack
// so that they retransmit; QoS 0 publishes are dropped.
func (c *conn) refused(e *entry) {
	reason, code := refusal(e.err)
	c.a.reject(reason, c.cl, e.err, "qos", e.qos)
	switch {
	case e.qos == 0:
	case c.v5:
		kind := byte(packets.Puback)
		if e.qos == 2 {
			kind = packets.Pubrec
		}
		_ = c.cl.WritePacket(ackPacket(kind, e.pid, code))
	default:
		c.cl.Stop(e.err)
	}
}

// refusal maps why the WAL did not take a publish to a metric reason and an
// MQTT 5 reason code.
func refusal(err error) (string, packets.Code) {
	switch {
	case errors.Is(err, ErrFull):
		return reasonQuota, packets.ErrQuotaExceeded
	case errors.Is(err, ErrClosing):
		return reasonShutdown, packets.ErrServerBusy
	case errors.Is(err, ErrNotAuthorized):
		return reasonNotAuth, packets.ErrNotAuthorized
	case errors.Is(err, record.ErrInvalid):
		return reasonProperties, packets.ErrImplementationSpecificError
	}
	return reasonWALFailed, packets.ErrUnspecifiedError
}

func ackPacket(kind byte, pid uint16, code packets.Code) packets.Packet {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: kind}, PacketID: pid, ReasonCode: code.Code}
	if code.Code >= packets.ErrUnspecifiedError.Code {
		pk.Properties.ReasonString = code.Reason
	}
	return pk
}

// appendWill stores a will mochi sent for a client that went away.
func (a *Agent) appendWill(cl *mqtt.Client, pk packets.Packet) {
	data, err := record.Encode(&record.Record{
		TimeMs: time.Now().UnixMilli(), ClientID: cl.ID, Topic: pk.TopicName, QoS: pk.FixedHeader.Qos,
		Retain: pk.FixedHeader.Retain, UserProps: userProps(pk.Properties.User), Payload: pk.Payload,
	})
	if err == nil {
		err = a.admit(int64(len(data) + frameOverhead))
	}
	if err != nil {
		reason, _ := refusal(err)
		a.reject(reason, cl, err, "will", pk.TopicName)
		return
	}
	cost := int64(len(data) + frameOverhead)
	_, err = a.wal.AppendAsync(a.lifetime(), data, func(_ uint64, err error) {
		a.quota.release(cost)
		if err == nil {
			a.met.publishes[min(pk.FixedHeader.Qos, 2)].Inc()
		} else {
			a.noteWALError(err)
		}
	})
	if err != nil {
		a.quota.release(cost)
		a.noteWALError(err)
	}
}

// noteWALError marks the agent failed for errors that are the disk's.
func (a *Agent) noteWALError(err error) {
	if errors.Is(walError(err), ErrWALFailed) {
		a.markFailed(err)
	}
}

// qos2Set tracks QoS 2 publishes between their arrival and their answer,
// by client ID, so a retransmission in that window is not stored twice.
type qos2Set struct {
	mu sync.Mutex
	m  map[string]map[uint16]int // mu: retransmissions seen per packet ID
}

// begin reports whether (id, pid) was not in flight and marks it; a
// retransmission is counted instead.
func (s *qos2Set) begin(id string, pid uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]map[uint16]int{}
	}
	ids := s.m[id]
	if ids == nil {
		ids = map[uint16]int{}
		s.m[id] = ids
	}
	if n, dup := ids[pid]; dup {
		ids[pid] = n + 1
		return false
	}
	ids[pid] = 0
	return true
}

// end forgets (id, pid) and returns how many retransmissions arrived.
func (s *qos2Set) end(id string, pid uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.m[id]
	n := ids[pid]
	delete(ids, pid)
	if len(ids) == 0 {
		delete(s.m, id)
	}
	return n
}

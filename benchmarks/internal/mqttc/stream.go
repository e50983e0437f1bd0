package mqttc

import (
	"context"
	"fmt"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Pipeline describes a pipelined run of QoS 0 or 1 publishes.
type Pipeline struct {
	Topic    string
	N        int                             // messages to send
	Inflight int                             // unacknowledged publishes kept outstanding (QoS 1)
	QoS      byte                            // 0 or 1
	Payload  func(i int) []byte              // the i-th message's payload
	OnAck    func(i int, sent, at time.Time) // called for each acknowledged message (QoS 0: when written)
	// Interval, if positive, paces the run: message i is written no
	// earlier than Interval·i after the start, and flushed at once.
	Interval time.Duration
}

type ackEvent struct {
	pid uint16
	at  time.Time
}

// Publish runs p to completion, ctx's end, or the first error, and returns
// how many messages were acknowledged.
func (c *Conn) Publish(ctx context.Context, p Pipeline) (int, error) {
	if p.Inflight < 1 || p.Inflight > 65000 || p.QoS > 1 {
		return 0, fmt.Errorf("mqttc: bad pipeline (inflight %d, qos %d)", p.Inflight, p.QoS)
	}
	acks := make(chan ackEvent, p.Inflight+16)
	readErr := make(chan error, 1)
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	// The reader must be gone before Publish returns, or it would take the
	// next packet meant for the connection's next user.
	defer func() {
		close(stop)
		_ = c.conn.SetReadDeadline(time.Now())
		<-readerDone
		_ = c.conn.SetReadDeadline(time.Time{})
	}()
	go func() {
		defer close(readerDone)
		for {
			kind, body, err := c.read()
			if err != nil {
				readErr <- err
				return
			}
			if kind != packets.Puback || len(body) < 2 {
				readErr <- fmt.Errorf("%w: type %d while publishing", ErrProtocol, kind)
				return
			}
			select {
			case acks <- ackEvent{pid: uint16(body[0])<<8 | uint16(body[1]), at: time.Now()}:
			case <-stop:
				return
			}
		}
	}()
	type pending struct {
		i    int
		sent time.Time
	}
	outstanding := make(map[uint16]pending, p.Inflight)
	next, acked := 0, 0
	var pid uint16
	start := time.Now()
	for acked < p.N {
		for len(outstanding) < p.Inflight && next < p.N {
			if p.Interval > 0 {
				if wait := time.Until(start.Add(time.Duration(next) * p.Interval)); wait > 0 {
					if len(outstanding) > 0 {
						break // take acks meanwhile
					}
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						return acked, ctx.Err()
					}
				}
			}
			now := time.Now()
			var id uint16
			if p.QoS == 1 {
				for {
					pid++
					if _, busy := outstanding[pid]; pid != 0 && !busy {
						break
					}
				}
				id = pid
				outstanding[id] = pending{next, now}
			}
			if err := c.writePublish(p.Topic, p.QoS, id, p.Payload(next)); err != nil {
				return acked, err
			}
			if p.QoS == 0 {
				if p.OnAck != nil {
					p.OnAck(next, now, now)
				}
				acked++
			}
			next++
			if p.Interval > 0 {
				if err := c.w.Flush(); err != nil {
					return acked, err
				}
			}
		}
		if err := c.w.Flush(); err != nil {
			return acked, err
		}
		if p.QoS == 0 {
			if err := ctx.Err(); err != nil {
				return acked, err
			}
			continue
		}
		var due <-chan time.Time
		if p.Interval > 0 && next < p.N && len(outstanding) < p.Inflight {
			due = time.After(time.Until(start.Add(time.Duration(next) * p.Interval)))
		}
		select {
		case <-due:
		case a := <-acks:
			pe, ok := outstanding[a.pid]
			if !ok {
				return acked, fmt.Errorf("%w: PUBACK for unknown packet id %d", ErrProtocol, a.pid)
			}
			delete(outstanding, a.pid)
			acked++
			if p.OnAck != nil {
				p.OnAck(pe.i, pe.sent, a.at)
			}
		case err := <-readErr:
			return acked, fmt.Errorf("mqttc: after %d acks: %w", acked, err)
		case <-ctx.Done():
			return acked, ctx.Err()
		}
	}
	return acked, nil
}

// Message is one PUBLISH received by Consume.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Dup     bool
	At      time.Time // when it was read
}

// Consume reads publishes and hands each to fn, acknowledging QoS 1 ones
// after fn returns, until ctx ends or the connection fails. It returns
// ctx's error in the first case.
func (c *Conn) Consume(ctx context.Context, fn func(Message)) error {
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		fh, body, err := c.readFull()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		at := time.Now()
		if fh.Type != packets.Publish {
			continue
		}
		pk := packets.Packet{FixedHeader: fh, ProtocolVersion: 4}
		if err := pk.PublishDecode(body); err != nil {
			return err
		}
		fn(Message{Topic: pk.TopicName, Payload: pk.Payload, QoS: fh.Qos, Dup: fh.Dup, At: at})
		if fh.Qos == 1 {
			if err := c.writeAck(packets.Puback, pk.PacketID); err != nil {
				return err
			}
		}
		if c.r.Buffered() == 0 {
			if err := c.w.Flush(); err != nil {
				return err
			}
		}
	}
}

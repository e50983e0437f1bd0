package mqttc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Errors.
var (
	ErrRefused  = errors.New("mqttc: connection refused by broker")
	ErrProtocol = errors.New("mqttc: unexpected packet")
)

// maxPacket bounds what the client reads from a broker.
const maxPacket = 1 << 20

// Options configure a connection.
type Options struct {
	ClientID  string
	Clean     bool          // clean session: no state kept after disconnect
	Keepalive uint16        // seconds; 0 means 60
	Timeout   time.Duration // dial and CONNACK; 0 means 10 s
	Buffer    int           // read and write buffer bytes each; 0 means 64 KiB
}

// Conn is one MQTT 3.1.1 connection, used by one goroutine at a time.
type Conn struct {
	conn           net.Conn
	r              *bufio.Reader
	w              *bufio.Writer
	buf            bytes.Buffer // encoding scratch
	pid            uint16       // last packet identifier used by PublishSync and Subscribe
	SessionPresent bool         // from the CONNACK
}

// Dial connects and waits for the CONNACK.
func Dial(ctx context.Context, addr string, o Options) (*Conn, error) {
	if o.Keepalive == 0 {
		o.Keepalive = 60
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	d := net.Dialer{Timeout: o.Timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if o.Buffer <= 0 {
		o.Buffer = 64 << 10
	}
	c := &Conn{conn: nc, r: bufio.NewReaderSize(nc, o.Buffer), w: bufio.NewWriterSize(nc, o.Buffer)}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4}
	pk.Connect.ProtocolName, pk.Connect.ClientIdentifier = []byte("MQTT"), o.ClientID
	pk.Connect.Clean, pk.Connect.Keepalive = o.Clean, o.Keepalive
	if err := pk.ConnectEncode(&c.buf); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(o.Timeout))
	if _, err := nc.Write(c.buf.Bytes()); err != nil {
		nc.Close()
		return nil, err
	}
	kind, body, err := c.read()
	_ = nc.SetDeadline(time.Time{})
	switch {
	case err != nil:
		nc.Close()
		return nil, fmt.Errorf("mqttc: connect %s: %w", o.ClientID, err)
	case kind != packets.Connack || len(body) < 2:
		nc.Close()
		return nil, fmt.Errorf("%w: type %d instead of CONNACK", ErrProtocol, kind)
	case body[1] != 0:
		nc.Close()
		return nil, fmt.Errorf("%w: CONNACK return code %d", ErrRefused, body[1])
	}
	c.SessionPresent = body[0]&1 == 1
	return c, nil
}

// Close closes the socket without a DISCONNECT (as a crash would).
func (c *Conn) Close() error { return c.conn.Close() }

// Disconnect sends DISCONNECT and closes.
func (c *Conn) Disconnect() error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.conn.Write([]byte{packets.Disconnect << 4, 0})
	return errors.Join(err, c.conn.Close())
}

// read reads one packet and returns its fixed header type and body.
func (c *Conn) read() (byte, []byte, error) {
	fh, body, err := c.readFull()
	return fh.Type, body, err
}

func (c *Conn) readFull() (packets.FixedHeader, []byte, error) {
	var fh packets.FixedHeader
	b, err := c.r.ReadByte()
	if err != nil {
		return fh, nil, err
	}
	if err := fh.Decode(b); err != nil {
		return fh, nil, err
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		return fh, nil, err
	}
	if n > maxPacket {
		return fh, nil, fmt.Errorf("%w: %d-byte packet", ErrProtocol, n)
	}
	fh.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return fh, nil, err
	}
	return fh, body, nil
}

func (c *Conn) nextPID() uint16 {
	c.pid++
	if c.pid == 0 {
		c.pid = 1
	}
	return c.pid
}

// writePublish buffers one PUBLISH.
func (c *Conn) writePublish(topic string, qos byte, pid uint16, payload []byte) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, ProtocolVersion: 4,
		TopicName: topic, Payload: payload, PacketID: pid}
	c.buf.Reset()
	if err := pk.PublishEncode(&c.buf); err != nil {
		return err
	}
	_, err := c.w.Write(c.buf.Bytes())
	return err
}

// writeAck buffers a PUBACK (or another two-byte-identifier ack).
func (c *Conn) writeAck(kind byte, pid uint16) error {
	first := kind << 4
	if kind == packets.Pubrel {
		first |= 2
	}
	_, err := c.w.Write([]byte{first, 2, byte(pid >> 8), byte(pid)})
	return err
}

// PublishSync publishes one message and, for QoS 1, waits for its PUBACK.
// Publishes that arrive meanwhile (a subscribed connection) are acked and
// dropped.
func (c *Conn) PublishSync(ctx context.Context, topic string, qos byte, payload []byte) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.conn.SetDeadline(dl)
		defer c.conn.SetDeadline(time.Time{})
	}
	var pid uint16
	if qos > 0 {
		pid = c.nextPID()
	}
	if err := c.writePublish(topic, qos, pid, payload); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil || qos == 0 {
		return err
	}
	for {
		fh, body, err := c.readFull()
		if err != nil {
			return err
		}
		switch {
		case fh.Type == packets.Puback && len(body) >= 2 && uint16(body[0])<<8|uint16(body[1]) == pid:
			return nil
		case fh.Type == packets.Publish:
			if err := c.ackIncoming(fh, body); err != nil {
				return err
			}
		case fh.Type != packets.Pingresp:
			return fmt.Errorf("%w: type %d while waiting for PUBACK %d", ErrProtocol, fh.Type, pid)
		}
	}
}

// Subscribe subscribes to filter at qos and waits for the SUBACK.
func (c *Conn) Subscribe(ctx context.Context, filter string, qos byte) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.conn.SetDeadline(dl)
		defer c.conn.SetDeadline(time.Time{})
	}
	pid := c.nextPID()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 4,
		PacketID: pid, Filters: packets.Subscriptions{{Filter: filter, Qos: qos}}}
	c.buf.Reset()
	if err := pk.SubscribeEncode(&c.buf); err != nil {
		return err
	}
	if _, err := c.conn.Write(c.buf.Bytes()); err != nil {
		return err
	}
	for {
		fh, body, err := c.readFull()
		if err != nil {
			return err
		}
		switch fh.Type {
		case packets.Suback:
			if len(body) < 3 || body[2] == 0x80 {
				return fmt.Errorf("%w: subscription to %q refused", ErrRefused, filter)
			}
			return nil
		case packets.Publish:
			if err := c.ackIncoming(fh, body); err != nil {
				return err
			}
		}
	}
}

// ackIncoming acknowledges a PUBLISH received where none is expected.
func (c *Conn) ackIncoming(fh packets.FixedHeader, body []byte) error {
	if fh.Qos == 0 {
		return nil
	}
	pk := packets.Packet{FixedHeader: fh, ProtocolVersion: 4}
	if err := pk.PublishDecode(body); err != nil {
		return err
	}
	kind := byte(packets.Puback)
	if fh.Qos == 2 {
		kind = packets.Pubrec
	}
	if err := c.writeAck(kind, pk.PacketID); err != nil {
		return err
	}
	return c.w.Flush()
}

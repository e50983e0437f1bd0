package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Result is what one run measured.
type Result struct {
	Label      string  `json:"label"`
	Clients    int     `json:"clients"`
	Messages   int     `json:"messages"` // acknowledged, all clients
	Seconds    float64 `json:"seconds"`
	Rate       float64 `json:"msgs_per_sec"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
}

func (r Result) String() string {
	return fmt.Sprintf("%s: %d clients, %d msgs in %.2fs = %.0f msg/s; publish→ack p50 %.2f ms, p99 %.2f ms, max %.2f ms; errors %d %s",
		r.Label, r.Clients, r.Messages, r.Seconds, r.Rate, r.P50Ms, r.P99Ms, r.MaxMs, r.Errors, r.FirstError)
}

// run connects o.clients clients, then publishes from all at once.
func run(o options) (Result, error) {
	conns := make([]*client, o.clients)
	for i := range conns {
		c, err := dial(o, fmt.Sprintf("mqttload-%d-%d", os.Getpid(), i))
		if err == nil {
			c.topic = fmt.Sprintf("bench/client-%d", i)
		}
		if err != nil {
			for _, c := range conns[:i] {
				c.conn.Close()
			}
			return Result{}, err
		}
		conns[i] = c
	}
	payload := bytes.Repeat([]byte("x"), o.size)
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func(c *client) {
			defer wg.Done()
			c.err = c.publish(o, payload)
			c.conn.Close()
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := Result{Label: o.label, Clients: o.clients, Seconds: elapsed.Seconds()}
	var lat []time.Duration
	for _, c := range conns {
		res.Messages += c.acked
		lat = append(lat, c.latencies...)
		if c.err != nil {
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = c.err.Error()
			}
		}
	}
	res.Rate = float64(res.Messages) / elapsed.Seconds()
	if len(lat) > 0 {
		slices.Sort(lat)
		q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
		res.P50Ms, res.P99Ms, res.MaxMs = q(0.50), q(0.99), float64(lat[len(lat)-1])/1e6
	}
	return res, nil
}

// client is one MQTT 3.1.1 connection.
type client struct {
	topic     string
	conn      net.Conn
	r         *bufio.Reader
	w         *bufio.Writer
	acked     int
	latencies []time.Duration
	err       error
}

func dial(o options, id string) (*client, error) {
	conn, err := net.DialTimeout("tcp", o.addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := &client{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), w: bufio.NewWriterSize(conn, 64<<10)}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4}
	pk.Connect.ProtocolName, pk.Connect.ClientIdentifier = []byte("MQTT"), id
	pk.Connect.Clean, pk.Connect.Keepalive = true, 60
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	kind, body, err := readPacket(c.r)
	_ = conn.SetReadDeadline(time.Time{})
	if err != nil || kind != packets.Connack || len(body) < 2 || body[1] != 0 {
		conn.Close()
		return nil, fmt.Errorf("connect %s: CONNACK type %d body %v: %v", id, kind, body, err)
	}
	return c, nil
}

// ack is one acknowledgement read from the broker.
type ack struct {
	kind byte
	pid  uint16
	at   time.Time
}

// publish sends o.messages publishes keeping o.inflight outstanding.
func (c *client) publish(o options, payload []byte) error {
	_ = c.conn.SetDeadline(time.Now().Add(o.timeout))
	acks := make(chan ack, o.inflight+16)
	readErr := make(chan error, 1)
	go func() {
		for {
			kind, body, err := readPacket(c.r)
			if err != nil {
				readErr <- err
				return
			}
			if len(body) >= 2 {
				acks <- ack{kind: kind, pid: uint16(body[0])<<8 | uint16(body[1]), at: time.Now()}
			}
		}
	}()
	sent := make(map[uint16]time.Time, o.inflight)
	c.latencies = make([]time.Duration, 0, o.messages)
	var buf bytes.Buffer
	next, pid := 0, uint16(0)
	for c.acked < o.messages {
		for len(sent) < o.inflight && next < o.messages {
			for {
				pid++
				if _, busy := sent[pid]; pid != 0 && !busy {
					break
				}
			}
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: byte(o.qos)}, ProtocolVersion: 4,
				TopicName: c.topic, Payload: payload}
			if o.qos > 0 {
				pk.PacketID = pid
				sent[pid] = time.Now()
			}
			buf.Reset()
			if err := pk.PublishEncode(&buf); err != nil {
				return err
			}
			if _, err := c.w.Write(buf.Bytes()); err != nil {
				return err
			}
			next++
			if o.qos == 0 {
				c.acked++
			}
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		if o.qos == 0 {
			if next >= o.messages {
				return nil
			}
			continue
		}
		select {
		case a := <-acks:
			if err := c.onAck(a, sent, o.qos); err != nil {
				return err
			}
		case err := <-readErr:
			return fmt.Errorf("after %d acks: %w", c.acked, err)
		}
	}
	return nil
}

// onAck handles a PUBACK, PUBREC or PUBCOMP.
func (c *client) onAck(a ack, sent map[uint16]time.Time, qos int) error {
	switch {
	case a.kind == packets.Pubrec && qos == 2:
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, ProtocolVersion: 4, PacketID: a.pid}
		var buf bytes.Buffer
		_ = pk.PubrelEncode(&buf)
		_, err := c.w.Write(buf.Bytes())
		return err
	case a.kind == packets.Puback && qos == 1, a.kind == packets.Pubcomp && qos == 2:
		t0, ok := sent[a.pid]
		if !ok {
			return fmt.Errorf("ack for unknown packet id %d", a.pid)
		}
		delete(sent, a.pid)
		c.latencies = append(c.latencies, a.at.Sub(t0))
		c.acked++
		return nil
	}
	return fmt.Errorf("unexpected packet type %d", a.kind)
}

// readPacket reads one MQTT packet and returns its type and body.
func readPacket(r *bufio.Reader) (byte, []byte, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	var fh packets.FixedHeader
	if err := fh.Decode(b); err != nil {
		return 0, nil, err
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		return 0, nil, err
	}
	if n > 1<<20 {
		return 0, nil, errors.New("packet over 1 MiB")
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return fh.Type, body, nil
}

package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

func crashPayload(id string, n int) string { return id + "#" + strconv.Itoa(n) }

// scrapeMetric returns the value of the unlabelled sample name at url.
func scrapeMetric(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("sample %s: %v", l, err)
			}
			return f
		}
	}
	t.Fatalf("no sample %s at %s", name, url)
	return 0
}

// crashPublisher is a raw MQTT client that keeps up to inFlight QoS 1
// publishes outstanding and records exactly which were acknowledged. When
// the connection breaks it reconnects. With a clean session (MQTT 3.1.1)
// it abandons the unacknowledged publishes, which are therefore never
// retransmitted; with a persistent session (MQTT 3.1.1 or 5) it
// retransmits them first, with DUP set and their packet IDs, as MQTT
// requires.
type crashPublisher struct {
	id       string
	addr     string
	version  byte
	persist  bool
	inFlight int
	total    *atomic.Int64

	// Publisher goroutine only.
	next     int            // next message number
	pid      uint16         // last packet ID handed out
	inflight map[uint16]int // unacknowledged: packet ID → message number
	refused  int            // MQTT 5 PUBACKs with a failure reason

	mu    sync.Mutex   // protects acked
	acked map[int]bool // message numbers acknowledged
}

// newCrashPublisher makes a clean-session MQTT 3.1.1 client (kind 0), a
// persistent-session MQTT 3.1.1 one (1) or a persistent MQTT 5 one (2).
func newCrashPublisher(id, addr string, kind, inFlight int, total *atomic.Int64) *crashPublisher {
	p := &crashPublisher{id: id, addr: addr, version: 4, persist: kind > 0, inFlight: inFlight, total: total,
		inflight: map[uint16]int{}, acked: map[int]bool{}}
	if kind == 2 {
		p.version = 5
	}
	return p
}

// publish sends messages until next reaches upTo and, for a persistent
// session, every one is answered, reconnecting as needed.
func (p *crashPublisher) publish(ctx context.Context, upTo int) {
	for (p.next < upTo || len(p.inflight) > 0) && ctx.Err() == nil {
		conn, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		p.session(ctx, conn, upTo)
		conn.Close()
		if !p.persist {
			clear(p.inflight)
		}
	}
}

type crashAck struct {
	pid    uint16
	reason byte
}

// session runs one connection until every message up to upTo is
// acknowledged or the connection fails.
func (p *crashPublisher) session(ctx context.Context, conn net.Conn, upTo int) {
	w := bufio.NewWriter(conn)
	r := bufio.NewReader(conn)
	connect := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: p.version}
	connect.Connect.ProtocolName, connect.Connect.ClientIdentifier = []byte("MQTT"), p.id
	connect.Connect.Clean, connect.Connect.Keepalive = !p.persist, 30
	if p.persist && p.version == 5 {
		connect.Properties.SessionExpiryInterval, connect.Properties.SessionExpiryIntervalFlag = 3600, true
	}
	var buf bytes.Buffer
	_ = connect.ConnectEncode(&buf)
	if _, err := conn.Write(buf.Bytes()); err != nil {
		return
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if kind, _, err := readAck(r); err != nil || kind != packets.Connack {
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	acks := make(chan crashAck, p.inFlight)
	readErr := make(chan error, 1)
	go func() {
		for {
			kind, ack, err := readAck(r)
			if err != nil {
				readErr <- err
				close(acks)
				return
			}
			if kind == packets.Puback {
				acks <- ack
			}
		}
	}()
	send := func(pid uint16, n int, dup bool) bool {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Dup: dup}, ProtocolVersion: p.version,
			TopicName: "telemetry/" + p.id, PacketID: pid, Payload: []byte(crashPayload(p.id, n))}
		buf.Reset()
		_ = pk.PublishEncode(&buf)
		_, err := w.Write(buf.Bytes())
		return err == nil
	}
	// Retransmit what the session left unacknowledged, in order.
	pending := make([]uint16, 0, len(p.inflight))
	for pid := range p.inflight {
		pending = append(pending, pid)
	}
	slices.SortFunc(pending, func(a, b uint16) int { return p.inflight[a] - p.inflight[b] })
	for _, pid := range pending {
		if !send(pid, p.inflight[pid], true) {
			return
		}
	}
	for {
		for len(p.inflight) < p.inFlight && p.next < upTo {
			pid := p.nextPID()
			if !send(pid, p.next, false) {
				return
			}
			p.inflight[pid] = p.next
			p.next++
		}
		if err := w.Flush(); err != nil {
			return
		}
		if len(p.inflight) == 0 {
			return
		}
		select {
		case ack, ok := <-acks:
			if !ok {
				return
			}
			n, found := p.inflight[ack.pid]
			if !found {
				continue
			}
			delete(p.inflight, ack.pid)
			if ack.reason >= 0x80 {
				p.refused++
				continue
			}
			p.mu.Lock()
			p.acked[n] = true
			p.mu.Unlock()
			p.total.Add(1)
		case <-readErr:
			return
		case <-ctx.Done():
			return
		}
	}
}

// nextPID returns a packet ID not in flight.
func (p *crashPublisher) nextPID() uint16 {
	for {
		p.pid++
		if _, busy := p.inflight[p.pid]; p.pid != 0 && !busy {
			return p.pid
		}
	}
}

// readAck reads one packet and returns its type and, for a PUBACK, its
// packet ID and reason code.
func readAck(r *bufio.Reader) (byte, crashAck, error) {
	var ack crashAck
	b, err := r.ReadByte()
	if err != nil {
		return 0, ack, err
	}
	var fh packets.FixedHeader
	if err := fh.Decode(b); err != nil {
		return 0, ack, err
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		return 0, ack, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, ack, err
	}
	switch {
	case fh.Type == packets.Puback && n >= 2:
		ack.pid = uint16(body[0])<<8 | uint16(body[1])
		if n >= 3 {
			ack.reason = body[2]
		}
	case fh.Type == packets.Connack && (n < 2 || body[1] != 0):
		return fh.Type, ack, fmt.Errorf("connection refused: %v", body)
	}
	return fh.Type, ack, nil
}

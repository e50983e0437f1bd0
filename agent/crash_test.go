package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgelog/edgelog/internal/testkit"
	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/wal"
)

// TestCrashKeepsEveryAck runs the real edgelog binary, has 10 clients
// publish 20,000 QoS 1 messages each with 100 in flight, SIGKILLs the agent
// mid-stream, restarts it, lets the clients finish and publish more, and
// then checks the WAL: every message whose PUBACK a client saw is there
// exactly once, and no message is there twice.
func TestCrashKeepsEveryAck(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test publishes 220,000 messages")
	}
	const (
		clients  = 10
		perPhase = 20_000
		inFlight = 100
	)
	data := t.TempDir()
	mqttAddr, httpAddr := testkit.FreeTCP(t), testkit.FreeTCP(t)
	agent := testkit.Start(t, "agent", "agent", "--local-only", "--data", data, "--listen-mqtt", mqttAddr, "--listen-http", httpAddr, "--log-level", "warn")
	agent.WaitHTTP("http://"+httpAddr+"/readyz", 2*time.Minute)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var acked atomic.Int64
	pubs := make([]*crashPublisher, clients)
	var wg sync.WaitGroup
	for i := range pubs {
		pubs[i] = &crashPublisher{id: fmt.Sprintf("crash-%02d", i), addr: mqttAddr, inFlight: inFlight, total: &acked, acked: map[int]bool{}}
		wg.Add(1)
		go func(p *crashPublisher) {
			defer wg.Done()
			p.publish(ctx, perPhase)
		}(pubs[i])
	}
	// Kill once a good share is acknowledged but well before the end.
	if err := testkit.Eventually(ctx, 5*time.Minute, func() bool { return acked.Load() >= clients*perPhase/4 }); err != nil {
		t.Fatalf("only %d acks before the kill: %v", acked.Load(), err)
	}
	agent.Kill()
	killedAt := acked.Load()
	agent.Restart()
	agent.WaitHTTP("http://"+httpAddr+"/readyz", 2*time.Minute)
	wg.Wait()
	if killedAt >= clients*perPhase {
		t.Fatalf("the kill came after every message was acknowledged (%d)", killedAt)
	}
	// Publish more on the restarted agent.
	for _, p := range pubs {
		wg.Add(1)
		go func(p *crashPublisher) {
			defer wg.Done()
			p.publish(ctx, perPhase+perPhase/10)
		}(p)
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("publishing did not finish: %v", ctx.Err())
	}
	if err := agent.Stop(time.Minute); err != nil {
		t.Fatalf("agent did not stop cleanly: %v", err)
	}

	seen := map[string]int{}
	rep, err := wal.Inspect(filepath.Join(data, "wal"), func(seq uint64, p []byte) error {
		r, err := record.Decode(p)
		if err != nil {
			return fmt.Errorf("seq %d: %w", seq, err)
		}
		seen[string(r.Payload)]++
		return nil
	})
	if err != nil || rep.Corrupt != nil {
		t.Fatalf("WAL after crash and restart: %v %v", err, rep.Corrupt)
	}
	var total, missing, dups int
	for _, p := range pubs {
		for n := range p.acked {
			total++
			switch c := seen[crashPayload(p.id, n)]; {
			case c == 0:
				missing++
				if missing <= 5 {
					t.Errorf("%s message %d was acknowledged but is not in the WAL", p.id, n)
				}
			case c > 1:
				dups++
			}
		}
	}
	for payload, c := range seen {
		if c > 1 {
			dups++
			if dups <= 5 {
				t.Errorf("%q is in the WAL %d times", payload, c)
			}
		}
	}
	// The operator's view agrees: edgelog wal dump lists the same records.
	out, err := exec.Command(testkit.Binary(t), "wal", "dump", data, "--format", "json").Output()
	if err != nil {
		t.Fatalf("edgelog wal dump: %v", err)
	}
	if lines := bytes.Count(out, []byte("\n")); int64(lines) != rep.Records {
		t.Errorf("edgelog wal dump printed %d records, the WAL holds %d", lines, rep.Records)
	}
	t.Logf("%d acknowledged messages (%d before the kill), %d records in the WAL, %d missing, %d duplicated", total, killedAt, rep.Records, missing, dups)
	if total < clients*(perPhase+perPhase/10)-clients*inFlight {
		t.Errorf("only %d messages acknowledged in total", total)
	}
}

func crashPayload(id string, n int) string { return id + "#" + strconv.Itoa(n) }

// crashPublisher is an MQTT 3.1.1 client (clean session) that keeps up to
// inFlight QoS 1 publishes outstanding and records exactly which were
// acknowledged. When the connection breaks it reconnects and goes on with
// new messages: a clean session abandons the unacknowledged ones, which are
// therefore never retransmitted.
type crashPublisher struct {
	id       string
	addr     string
	inFlight int
	total    *atomic.Int64

	next  int          // next message number (publisher goroutine)
	mu    sync.Mutex   // protects acked
	acked map[int]bool // message numbers acknowledged
}

// publish sends messages until next reaches upTo (exclusive of what it has
// already sent), reconnecting as needed.
func (p *crashPublisher) publish(ctx context.Context, upTo int) {
	for p.next < upTo && ctx.Err() == nil {
		conn, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		p.session(ctx, conn, upTo)
		conn.Close()
	}
}

// session runs one connection until every message up to upTo is
// acknowledged or the connection fails.
func (p *crashPublisher) session(ctx context.Context, conn net.Conn, upTo int) {
	w := bufio.NewWriter(conn)
	r := bufio.NewReader(conn)
	connect := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4}
	connect.Connect.ProtocolName, connect.Connect.ClientIdentifier = []byte("MQTT"), p.id
	connect.Connect.Clean, connect.Connect.Keepalive = true, 30
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
	acks := make(chan uint16, p.inFlight)
	readErr := make(chan error, 1)
	go func() {
		for {
			kind, pid, err := readAck(r)
			if err != nil {
				readErr <- err
				close(acks)
				return
			}
			if kind == packets.Puback {
				acks <- pid
			}
		}
	}()
	inflight := map[uint16]int{} // packet ID → message number
	pid := uint16(0)
	for {
		for len(inflight) < p.inFlight && p.next < upTo {
			pid++
			if pid == 0 {
				pid = 1
			}
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 4,
				TopicName: "telemetry/" + p.id, PacketID: pid, Payload: []byte(crashPayload(p.id, p.next))}
			buf.Reset()
			_ = pk.PublishEncode(&buf)
			if _, err := w.Write(buf.Bytes()); err != nil {
				return
			}
			inflight[pid] = p.next
			p.next++
		}
		if err := w.Flush(); err != nil {
			return
		}
		if len(inflight) == 0 {
			return
		}
		select {
		case id, ok := <-acks:
			if !ok {
				return
			}
			if n, found := inflight[id]; found {
				delete(inflight, id)
				p.mu.Lock()
				p.acked[n] = true
				p.mu.Unlock()
				p.total.Add(1)
			}
		case <-readErr:
			return
		case <-ctx.Done():
			return
		}
	}
}

// readAck reads one packet and returns its type and packet ID.
func readAck(r *bufio.Reader) (byte, uint16, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	var fh packets.FixedHeader
	if err := fh.Decode(b); err != nil {
		return 0, 0, err
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		return 0, 0, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, 0, err
	}
	if fh.Type == packets.Puback && n >= 2 {
		return fh.Type, uint16(body[0])<<8 | uint16(body[1]), nil
	}
	if fh.Type == packets.Connack && (n < 2 || body[1] != 0) {
		return fh.Type, 0, fmt.Errorf("connection refused: %s", strings.TrimSpace(fmt.Sprint(body)))
	}
	return fh.Type, 0, nil
}

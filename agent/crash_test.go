package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/testkit"
	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/wal"
)

// TestCrashKeepsEveryAck runs the real edgelog binary, has 10 clients
// publish 20,000 QoS 1 messages each with 100 in flight, SIGKILLs the agent
// mid-stream three times, restarting it each time, lets the clients finish and publish more, and
// then checks the WAL: every message whose PUBACK a client saw is there
// exactly once, and no message is there twice. Clients of three kinds mix:
// MQTT 3.1.1 with clean sessions (they abandon what was unacknowledged at
// the kill), and MQTT 3.1.1 and MQTT 5 with persistent sessions, which
// retransmit it (DUP) after the restart — including messages the killed
// agent stored but whose PUBACK never reached them, which the restarted
// agent must recognise instead of storing them twice.
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
		pubs[i] = newCrashPublisher(fmt.Sprintf("crash-%02d", i), mqttAddr, i%3, inFlight, &acked)
		wg.Add(1)
		go func(p *crashPublisher) {
			defer wg.Done()
			p.publish(ctx, perPhase)
		}(pubs[i])
	}
	// Kill three times while publishing, well before the end; each restart
	// recognises the retransmissions of records the killed agent stored but
	// did not acknowledge (whether a kill leaves some depends on its
	// instant).
	metrics := "http://" + httpAddr + "/metrics"
	var recognised float64
	var killedAt int64
	for quarter := int64(1); quarter <= 3; quarter++ {
		if err := testkit.Eventually(ctx, 5*time.Minute, func() bool { return acked.Load() >= clients*perPhase*quarter/4 }); err != nil {
			t.Fatalf("only %d acks before a kill: %v", acked.Load(), err)
		}
		recognised += scrapeMetric(t, metrics, "edgelog_agent_duplicate_publishes_total")
		agent.Kill()
		killedAt = acked.Load()
		agent.Restart()
		agent.WaitHTTP("http://"+httpAddr+"/readyz", 2*time.Minute)
	}
	wg.Wait()
	if killedAt >= clients*perPhase {
		t.Fatalf("the last kill came after every message was acknowledged (%d)", killedAt)
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
	recognised += scrapeMetric(t, metrics, "edgelog_agent_duplicate_publishes_total")
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
		if p.persist && len(p.acked)+p.refused != p.next {
			t.Errorf("%s (persistent session) sent %d messages, %d acknowledged, %d refused", p.id, p.next, len(p.acked), p.refused)
		}
		for n := range p.acked {
			total++
			if seen[crashPayload(p.id, n)] == 0 {
				missing++
				if missing <= 5 {
					t.Errorf("%s message %d was acknowledged but is not in the WAL", p.id, n)
				}
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
	if dups > 5 {
		t.Errorf("%d messages are in the WAL more than once", dups)
	}
	// The operator's view agrees: edgelog wal dump lists the same records.
	out, err := exec.Command(testkit.Binary(t), "wal", "dump", data, "--format", "json").Output()
	if err != nil {
		t.Fatalf("edgelog wal dump: %v", err)
	}
	if lines := bytes.Count(out, []byte("\n")); int64(lines) != rep.Records {
		t.Errorf("edgelog wal dump printed %d records, the WAL holds %d", lines, rep.Records)
	}
	t.Logf("%d acknowledged messages (%d before the last kill), %d records in the WAL, %d missing, %d duplicated; %.0f retransmissions of stored records recognised after restarts",
		total, killedAt, rep.Records, missing, dups, recognised)
	if total < clients*(perPhase+perPhase/10)-3*clients*inFlight { // clean sessions abandon what is in flight at each kill
		t.Errorf("only %d messages acknowledged in total", total)
	}
}

package agent

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgelog/edgelog/internal/faultfs"
	"github.com/edgelog/edgelog/record"
)

// walTail reads the agent's WAL as the shipper does: a reader that tails
// durable records and, when reading fails (the WAL failed), starts again
// from where it was once the WAL takes reads again.
type walTail struct {
	mu   sync.Mutex
	got  []string // payloads in read order
	stop context.CancelFunc
	done chan struct{}
}

func tailWAL(t *testing.T, a *Agent) *walTail {
	ctx, cancel := context.WithCancel(context.Background())
	w := &walTail{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		from := a.WAL().First()
		for ctx.Err() == nil {
			r, err := a.WAL().NewReader(from)
			if err != nil {
				t.Errorf("tail reader at %d: %v", from, err)
				return
			}
			for {
				seq, p, err := r.Next(ctx)
				if err != nil {
					break
				}
				rec, err := record.Decode(p)
				if err != nil {
					t.Errorf("tail: record %d: %v", seq, err)
				}
				w.mu.Lock()
				w.got = append(w.got, string(rec.Payload))
				w.mu.Unlock()
				from = seq + 1
			}
			r.Close()
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *walTail) close() {
	w.stop()
	<-w.done
}

func (w *walTail) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.got)
}

// TestWALRecoversAfterFsyncFailure: fsync fails, then heals. While it fails
// publishes are refused (MQTT 5: reason 0x80; MQTT 3.1.1: disconnected
// without an ack) and /readyz answers 503; once the disk heals the agent
// reopens its WAL by itself, /readyz answers 200 and publishes are stored
// again. Every acknowledged publish is in the WAL once and no refused one
// is; a reader tailing the WAL across the failure, as the shipper does,
// reads the same records once each, in order.
func TestWALRecoversAfterFsyncFailure(t *testing.T) {
	ffs := faultfs.New()
	ta := startAgent(t, Config{FS: ffs})
	tail := tailWAL(t, ta.Agent)
	v5 := dialRaw(t, ta.MQTTAddr(), "v5", rawOpts{version: 5})
	var want []string
	publish := func(payload string, pid uint16) byte {
		t.Helper()
		v5.publish("t/wal", []byte(payload), 1, pid)
		return v5.expect(packets.Puback, pid).ReasonCode
	}
	for i := 1; i <= 20; i++ {
		if code := publish(fmt.Sprintf("before-%d", i), uint16(i)); code != 0 {
			t.Fatalf("publish %d: reason %#x", i, code)
		}
		want = append(want, fmt.Sprintf("before-%d", i))
	}

	ffs.SetSyncFault(0, faultfs.ErrInjected)
	if code := publish("refused-1", 100); code != packets.ErrUnspecifiedError.Code {
		t.Fatalf("publish whose fsync failed: reason %#x, want 0x80", code)
	}
	if code, _ := httpGet(t, ta.Agent, "/readyz"); code != 503 {
		t.Fatalf("/readyz = %d while the WAL is failed, want 503", code)
	}
	if st := ta.Status().State; st != "failed" {
		t.Errorf("status state %q, want failed", st)
	}
	if code := publish("refused-2", 101); code != packets.ErrUnspecifiedError.Code {
		t.Fatalf("publish while the WAL is failed: reason %#x, want 0x80", code)
	}
	v3 := dialRaw(t, ta.MQTTAddr(), "v3", rawOpts{})
	v3.publish("t/wal", []byte("refused-3"), 1, 1)
	if pk, err := v3.read(waitLong); err == nil {
		t.Fatalf("MQTT 3.1.1 publish while the WAL is failed got packet type %d, want the connection closed", pk.FixedHeader.Type)
	}

	ffs.SetSyncFault(0, nil)
	waitFor(t, "/readyz 200 after the disk healed", func() bool {
		code, _ := httpGet(t, ta.Agent, "/readyz")
		return code == 200
	})
	for i := 1; i <= 20; i++ {
		if code := publish(fmt.Sprintf("after-%d", i), uint16(200+i)); code != 0 {
			t.Fatalf("publish %d after recovery: reason %#x", i, code)
		}
		want = append(want, fmt.Sprintf("after-%d", i))
	}
	v3 = dialRaw(t, ta.MQTTAddr(), "v3", rawOpts{})
	v3.publish("t/wal", []byte("after-v3"), 1, 2)
	v3.expect(packets.Puback, 2)
	want = append(want, "after-v3")

	if got := metricLine(t, ta.Agent, "edgelog_agent_wal_reopens_total"); got != "edgelog_agent_wal_reopens_total 1" {
		t.Errorf("metric %q, want one reopen", got)
	}
	_, metrics := httpGet(t, ta.Agent, "/metrics")
	if !strings.Contains(metrics, `edgelog_agent_rejected_publishes_total{reason="wal_failed"} 3`) {
		t.Errorf("refusals not counted:\n%s", grepLines(metrics, "rejected"))
	}
	waitFor(t, "the tail reader to catch up", func() bool { return tail.count() >= len(want) })
	tail.close()
	ta.shutdown()
	if got := payloads(readWAL(t, ta.dir)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("WAL holds %q,\nwant %q", got, want)
	}
	if fmt.Sprint(tail.got) != fmt.Sprint(want) {
		t.Fatalf("tail reader read %q,\nwant %q", tail.got, want)
	}
}

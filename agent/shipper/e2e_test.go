package shipper

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/netchaos"
	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/syncproto"
	"github.com/prometheus/client_golang/prometheus"
)

// TestShipBacklogAndLive ships a backlog and live appends through a real
// WAL, shipper, QUIC, ingest and broker: every record arrives exactly once,
// in per-device order, and the WAL is trimmed only below what the hub holds.
func TestShipBacklogAndLive(t *testing.T) {
	h := startHub(t, syncproto.Limits{MaxBatchRecords: 500})
	w := openWAL(t, t.TempDir())
	w.append(20000)
	reg := prometheus.NewRegistry()
	var trims []uint64
	var mu sync.Mutex
	s, err := New(w.log, func(seq uint64) error {
		mu.Lock()
		trims = append(trims, seq)
		mu.Unlock()
		if held := h.broker.AgentResume("gw-1", w.log.Epoch()) - 1; seq > held {
			t.Errorf("asked to trim through %d, the hub holds through %d", seq, held)
		}
		return w.trim(seq)
	}, Config{Hub: h.addr, Credentials: h.credentials("gw-1"), Logger: quiet(), Registry: reg,
		BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var last uint64
	for range 20 {
		last = w.append(500)
		time.Sleep(5 * time.Millisecond)
	}
	waitAcked(t, s, last, 60*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, h.records(), "gw-1", w.log.Epoch(), last)
	mu.Lock()
	for i := 1; i < len(trims); i++ {
		if trims[i] <= trims[i-1] {
			t.Fatalf("trim points went %d then %d", trims[i-1], trims[i])
		}
	}
	mu.Unlock()
	if w.log.First() <= 1 {
		t.Fatal("the WAL was never trimmed")
	}
	if got := value(s.metrics.batches); got < float64(last)/500 {
		t.Fatalf("%v batches for %d records with at most 500 per batch", got, last)
	}
	if ratio := value(s.metrics.ratio); ratio <= 1 {
		t.Fatalf("compression ratio %v on repetitive telemetry", ratio)
	}
	if st := s.SyncStatus(); st.AckedSeq != last || st.Connected {
		t.Fatalf("status after stop: %+v", st)
	}
	agents := h.broker.Agents()
	if len(agents) != 1 || agents[0].AckedSeq != last || agents[0].Connected {
		t.Fatalf("hub status: %+v", agents)
	}
}

// TestOutageExactlyOnce is the outage test: through a relay with 5% loss
// each way and two 5-second blackouts, plus an address change, while the
// agent keeps appending, every record arrives exactly once.
func TestOutageExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("outage test takes ~20s")
	}
	h := startHub(t, syncproto.Limits{MaxBatchRecords: 200, HeartbeatMs: 1000})
	lossy := netchaos.Impairment{Loss: 0.05, Delay: time.Millisecond, Jitter: 2 * time.Millisecond}
	relay, err := netchaos.New(netchaos.Config{Target: h.addr, Up: lossy, Down: lossy, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	w := openWAL(t, t.TempDir())
	w.append(5000)
	s, _ := runShipper(t, w, relay.Addr().String(), h.credentials("gw-1"), Config{})

	var last atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // live traffic throughout
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				last.Store(w.append(50))
			}
		}
	})
	time.Sleep(time.Second)
	relay.Blackout(5 * time.Second)
	time.Sleep(7 * time.Second)
	if err := relay.Rebind(); err != nil {
		t.Fatal(err)
	}
	relay.Blackout(5 * time.Second)
	time.Sleep(7 * time.Second)
	close(stop)
	wg.Wait()
	waitAcked(t, s, last.Load(), 120*time.Second)
	st := relay.Stats()
	t.Logf("relay: %+v; shipper reconnects %v", st, value(s.metrics.reconnects))
	if st.Up.Lost == 0 || st.Up.Blackout == 0 || st.Down.Blackout == 0 {
		t.Fatalf("the link was not impaired: %+v", st)
	}
	checkExactlyOnce(t, h.records(), "gw-1", w.log.Epoch(), last.Load())
}

// TestHubRestart stops the hub mid-stream and starts it again on the same
// data: the agent reconnects on its own and nothing is lost or duplicated.
func TestHubRestart(t *testing.T) {
	h := startHub(t, syncproto.Limits{MaxBatchRecords: 100})
	w := openWAL(t, t.TempDir())
	s, _ := runShipper(t, w, h.addr, h.credentials("gw-1"), Config{})
	w.append(3000)
	waitAcked(t, s, 500, 60*time.Second)
	h.restart()
	last := w.append(3000)
	h.restart()
	waitAcked(t, s, last, 60*time.Second)
	checkExactlyOnce(t, h.records(), "gw-1", w.log.Epoch(), last)
	if value(s.metrics.reconnects) < 1 {
		t.Fatal("no reconnection counted")
	}
}

// TestNewEpoch: a reinstalled agent (new WAL, same identity) starts over at
// sequence 1 and the hub keeps both epochs' records.
func TestNewEpoch(t *testing.T) {
	h := startHub(t, syncproto.Limits{})
	creds := h.credentials("gw-1")
	w1 := openWAL(t, t.TempDir())
	last1 := w1.append(1000)
	s1, stop1 := runShipper(t, w1, h.addr, creds, Config{})
	waitAcked(t, s1, last1, 60*time.Second)
	stop1()
	w2 := openWAL(t, t.TempDir())
	last2 := w2.append(700)
	s2, _ := runShipper(t, w2, h.addr, creds, Config{})
	waitAcked(t, s2, last2, 60*time.Second)
	recs := h.records()
	checkExactlyOnce(t, recs, "gw-1", w1.log.Epoch(), last1)
	checkExactlyOnce(t, recs, "gw-1", w2.log.Epoch(), last2)
}

// TestRevokeLive revokes a connected agent: its session ends with
// CodeRevoked, it ships nothing more, and its status says why.
func TestRevokeLive(t *testing.T) {
	h := startHub(t, syncproto.Limits{})
	w := openWAL(t, t.TempDir())
	last := w.append(100)
	s, _ := runShipper(t, w, h.addr, h.credentials("gw-1"), Config{})
	waitAcked(t, s, last, 60*time.Second)
	if err := h.deny.Set([]string{"gw-1"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.SyncStatus().LastError, "revoked") {
		if time.Now().After(deadline) {
			t.Fatalf("status after revocation: %+v", s.SyncStatus())
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.append(100)
	time.Sleep(500 * time.Millisecond)
	if s.Acked() != last {
		t.Fatalf("revoked agent shipped through %d", s.Acked())
	}
	// Lifting the revocation lets it resume without a restart.
	if err := h.deny.Set(nil); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, s, last+100, 60*time.Second)
}

// TestUploadRateCap: with a cap, shipping takes at least as long as the cap
// allows (a lower bound; speed is never asserted).
func TestUploadRateCap(t *testing.T) {
	h := startHub(t, syncproto.Limits{})
	w := openWAL(t, t.TempDir())
	last := w.append(4000) // ~ 4000 × 80 B
	const rateCap = 100 << 10
	start := time.Now()
	s, _ := runShipper(t, w, h.addr, h.credentials("gw-1"), Config{MaxUploadRate: rateCap, DisableCompression: true})
	waitAcked(t, s, last, 60*time.Second)
	wire := value(s.metrics.wireBytes)
	floor := time.Duration((wire - float64(s.burst)) / rateCap * float64(time.Second))
	if el := time.Since(start); el < floor {
		t.Fatalf("%v bytes went out in %v; a %d B/s cap needs at least %v", wire, el, rateCap, floor)
	}
}

// TestShutdownDrains: stopping the shipper waits for what is in flight to be
// acknowledged, and a later shipper on the same WAL resumes without loss.
func TestShutdownDrains(t *testing.T) {
	h := startHub(t, syncproto.Limits{MaxBatchRecords: 50})
	w := openWAL(t, t.TempDir())
	s, stop := runShipper(t, w, h.addr, h.credentials("gw-1"), Config{})
	w.append(5000)
	waitAcked(t, s, 100, 60*time.Second)
	stop()
	acked := s.Acked()
	if got := h.broker.AgentResume("gw-1", w.log.Epoch()) - 1; got < acked {
		t.Fatalf("agent acked %d, hub holds %d", acked, got)
	}
	last := w.append(10)
	s2, _ := runShipper(t, w, h.addr, h.credentials("gw-1"), Config{})
	waitAcked(t, s2, last, 60*time.Second)
	checkExactlyOnce(t, h.records(), "gw-1", w.log.Epoch(), last)
}

// TestDropOldestGap: records the agent dropped (drop-oldest at its disk
// quota) before the hub got them are a counted gap; everything else still
// arrives exactly once.
func TestDropOldestGap(t *testing.T) {
	h := startHub(t, syncproto.Limits{})
	creds := h.credentials("gw-1")
	w := openWAL(t, t.TempDir())
	w.append(1000)
	s, stop := runShipper(t, w, h.addr, creds, Config{})
	waitAcked(t, s, 1000, 60*time.Second)
	stop()
	last := w.append(2000)
	if err := w.log.TruncateFront(2001); err != nil { // what drop-oldest does
		t.Fatal(err)
	}
	s2, _ := runShipper(t, w, h.addr, creds, Config{})
	waitAcked(t, s2, last, 60*time.Second)
	var gap float64
	mfs, err := h.broker.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "edgelog_hub_sync_gap_records_total" {
			gap = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if gap != 1000 {
		t.Fatalf("gap of %v records counted, want 1000", gap)
	}
	got := map[uint64]int{}
	for _, r := range h.records() {
		got[r.seq]++
	}
	for seq := uint64(1); seq <= last; seq++ {
		want := 1
		if seq > 1000 && seq <= 2000 {
			want = 0
		}
		if got[seq] != want {
			t.Fatalf("seq %d at the hub %d times, want %d", seq, got[seq], want)
		}
	}
}

// TestUnsyncedWAL: with a WAL that never fsyncs on its own (--fsync never),
// the shipper fsyncs what it is about to send, so records still flow and
// only fsynced ones leave the agent.
func TestUnsyncedWAL(t *testing.T) {
	h := startHub(t, syncproto.Limits{})
	w := openWAL(t, t.TempDir())
	s, _ := runShipper(t, w, h.addr, h.credentials("gw-1"), Config{})
	var last uint64
	for range 50 {
		w.mu.Lock()
		for range 20 {
			r := record.Record{TimeMs: 1, ClientID: "dev", Topic: "t/x", QoS: 1, Payload: []byte(payloadFor(w.log.Next()))}
			enc, _ := record.Encode(&r)
			var err error
			if last, err = w.log.AppendAsync(context.Background(), enc, nil); err != nil {
				t.Fatal(err)
			}
		}
		w.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	waitAcked(t, s, last, 60*time.Second)
	if w.log.Durable() < last {
		t.Fatalf("shipped through %d, the WAL is durable through %d", last, w.log.Durable())
	}
	checkExactlyOnce(t, h.records(), "gw-1", w.log.Epoch(), last)
}

package shipper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/hub/ingest"
	"github.com/edgelog/edgelog/hub/store"
	"github.com/edgelog/edgelog/internal/pki"
	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/syncproto"
	"github.com/edgelog/edgelog/wal"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// value reads a gauge or counter.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func quiet() *slog.Logger {
	if os.Getenv("SHIPPER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testHub is a broker with its ingest endpoint, restartable on the same
// directory and UDP port.
type testHub struct {
	t      testing.TB
	dir    string
	ca     *pki.Authority
	deny   *pki.DenyList
	limits syncproto.Limits
	addr   string

	broker *hub.Broker
	srv    *ingest.Server
	stop   context.CancelFunc
	done   chan error
}

func startHub(t testing.TB, limits syncproto.Limits) *testHub {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := &testHub{t: t, dir: dir, ca: ca, deny: &pki.DenyList{}, limits: limits, addr: "127.0.0.1:0"}
	h.start()
	t.Cleanup(h.shutdown)
	return h
}

func (h *testHub) start() {
	h.t.Helper()
	b, err := hub.Open(hub.Config{Dir: h.dir, Partitions: 4, Logger: quiet()})
	if err != nil {
		h.t.Fatal(err)
	}
	var srv *ingest.Server
	deadline := time.Now().Add(30 * time.Second)
	for {
		srv, err = ingest.New(b, ingest.Config{Listen: h.addr, TLS: h.ca.ServerTLS(), Deny: h.deny, Limits: h.limits,
			DrainTimeout: 2 * time.Second, Logger: quiet()})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the port of the previous run may linger
	}
	if err != nil {
		b.Close()
		h.t.Fatal(err)
	}
	h.broker, h.srv, h.addr = b, srv, srv.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	h.stop, h.done = cancel, make(chan error, 1)
	go func() { h.done <- srv.Run(ctx) }()
}

// shutdown stops the endpoint and closes the broker.
func (h *testHub) shutdown() {
	if h.stop == nil {
		return
	}
	h.stop()
	if err := <-h.done; err != nil {
		h.t.Errorf("ingest Run: %v", err)
	}
	if err := h.broker.Close(); err != nil {
		h.t.Errorf("broker close: %v", err)
	}
	h.stop = nil
}

func (h *testHub) restart() {
	h.shutdown()
	h.start()
}

func (h *testHub) credentials(id string) *pki.Bundle {
	h.t.Helper()
	b, err := h.ca.MintAgent(id, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	bundle, err := pki.ParseBundle(b)
	if err != nil {
		h.t.Fatal(err)
	}
	return bundle
}

// hubRecord is what the hub stored for one agent record.
type hubRecord struct {
	agent, epoch string
	seq          uint64
	device       string
	payload      string
	partition    string
	offset       int64
}

// records reads every record of every topic.
func (h *testHub) records() []hubRecord {
	h.t.Helper()
	var out []hubRecord
	for _, tp := range h.broker.Topics() {
		for i := range tp.Partitions() {
			p := tp.Partition(int32(i))
			start, hw, _ := p.Offsets()
			for off := start; off < hw; {
				data, _, err := p.Read(off, 4<<20, true)
				if err != nil {
					h.t.Fatalf("read %s/%d at %d: %v", tp.Name(), i, off, err)
				}
				infos, err := store.SplitBatches(data, len(data))
				if err != nil {
					h.t.Fatal(err)
				}
				pos := 0
				for _, info := range infos {
					err := store.DecodeRecords(data[pos:pos+info.Size], info, func(r store.Record) error {
						if r.Offset < off {
							return nil
						}
						hr := hubRecord{device: string(r.Key), payload: string(r.Value), partition: fmt.Sprintf("%s/%d", tp.Name(), i), offset: r.Offset}
						for _, hd := range r.Headers {
							switch hd.Key {
							case hub.HeaderAgentID:
								hr.agent = string(hd.Value)
							case hub.HeaderAgentEpoch:
								hr.epoch = string(hd.Value)
							case hub.HeaderAgentSeq:
								hr.seq, _ = strconv.ParseUint(string(hd.Value), 10, 64)
							}
						}
						out = append(out, hr)
						return nil
					})
					if err != nil {
						h.t.Fatal(err)
					}
					pos += info.Size
					off = info.LastOffset + 1
				}
			}
		}
	}
	return out
}

// checkExactlyOnce verifies that the hub holds seqs [1, n] of the agent's
// epoch exactly once each, and that each device's records are in sequence
// order within one partition.
func checkExactlyOnce(t testing.TB, recs []hubRecord, agentID, epoch string, n uint64) {
	t.Helper()
	seen := map[uint64]int{}
	lastByDevice := map[string]hubRecord{}
	for _, r := range recs {
		if r.agent != agentID || r.epoch != epoch {
			continue
		}
		seen[r.seq]++
		if want := payloadFor(r.seq); r.payload != want {
			t.Fatalf("seq %d carries %q, want %q", r.seq, r.payload, want)
		}
		if prev, ok := lastByDevice[r.device]; ok {
			if prev.partition != r.partition {
				t.Fatalf("device %s in %s and %s", r.device, prev.partition, r.partition)
			}
			if r.seq <= prev.seq {
				t.Fatalf("device %s: seq %d after %d", r.device, r.seq, prev.seq)
			}
		}
		lastByDevice[r.device] = r
	}
	var missing, dup []uint64
	for s := uint64(1); s <= n; s++ {
		switch seen[s] {
		case 0:
			missing = append(missing, s)
		case 1:
		default:
			dup = append(dup, s)
		}
	}
	if len(missing) > 0 || len(dup) > 0 || uint64(len(seen)) != n {
		t.Fatalf("agent %s: %d distinct records for %d; missing %d (first %v), duplicated %d (first %v)",
			agentID, len(seen), n, len(missing), head(missing), len(dup), head(dup))
	}
}

func head(s []uint64) []uint64 { return s[:min(len(s), 5)] }

func payloadFor(seq uint64) string { return fmt.Sprintf("reading-%08d", seq) }

// testWAL is an agent's WAL with a writer appending records like devices
// publishing through an agent.
type testWAL struct {
	t   *testing.T
	log *wal.Log
	mu  sync.Mutex // serializes appends so seq and payload match
}

func openWAL(t *testing.T, dir string) *testWAL {
	t.Helper()
	l, err := wal.Open(dir, wal.Options{Fsync: wal.FsyncNever, SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &testWAL{t: t, log: l}
}

// append adds n records and returns the last sequence.
func (w *testWAL) append(n int) uint64 {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var last uint64
	for range n {
		seq := w.log.Next()
		r := record.Record{TimeMs: time.Now().UnixMilli(), ClientID: fmt.Sprintf("dev-%d", seq%17),
			Topic: fmt.Sprintf("telemetry/dev-%d/temp", seq%17), QoS: 1, Payload: []byte(payloadFor(seq))}
		b, err := record.Encode(&r)
		if err != nil {
			w.t.Fatal(err)
		}
		got, err := w.log.AppendAsync(context.Background(), b, nil)
		if err != nil {
			w.t.Fatal(err)
		}
		if got != seq {
			w.t.Fatalf("appended at %d, expected %d", got, seq)
		}
		last = got
	}
	syncWAL(w.t, w.log, last)
	return last
}

// syncWAL makes the log durable through last. wal.Log.Sync can miss the
// wake-up of an fsync that completes while it starts waiting, so each wait
// is bounded and retried.
func syncWAL(tb testing.TB, l *wal.Log, last uint64) {
	for l.Durable() < last {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := l.Sync(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			tb.Fatal(err)
		}
		cancel()
	}
}

// trim is what agent.Agent.SetHubAcked does with an acknowledgement.
func (w *testWAL) trim(seq uint64) error { return w.log.TruncateFront(seq + 1) }

// runShipper starts a shipper and returns it with a function stopping it
// (which checks that Run returned nil).
func runShipper(t *testing.T, w *testWAL, hubAddr string, creds *pki.Bundle, cfg Config) (*Shipper, func()) {
	t.Helper()
	cfg.Hub, cfg.Credentials = hubAddr, creds
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase, cfg.BackoffMax = 20*time.Millisecond, 500*time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	s, err := New(w.log, w.trim, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("shipper Run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("shipper did not stop in 60s")
		}
	}
	t.Cleanup(stop)
	return s, stop
}

// waitAcked waits until the shipper's ack reaches seq.
func waitAcked(t *testing.T, s *Shipper, seq uint64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for s.Acked() < seq {
		if time.Now().After(deadline) {
			t.Fatalf("hub acknowledged through %d of %d after %v (status %+v)", s.Acked(), seq, timeout, s.SyncStatus())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

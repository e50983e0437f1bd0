package kafka

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testHub is a broker served on a loopback port.
type testHub struct {
	t      testing.TB
	dir    string
	b      *hub.Broker
	s      *Server
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func quietLogger() *slog.Logger {
	if os.Getenv("EDGELOG_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startHub opens a broker in dir (a new temporary one if empty) and serves
// it on 127.0.0.1 (on addr if given, to restart on the same port).
func startHub(t testing.TB, dir, addr string, hcfg hub.Config, kcfg Config) *testHub {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	hcfg.Dir = dir
	if hcfg.Logger == nil {
		hcfg.Logger = quietLogger()
	}
	b, err := hub.Open(hcfg)
	if err != nil {
		t.Fatal(err)
	}
	if kcfg.Group.MinSessionTimeout == 0 {
		kcfg.Group.MinSessionTimeout = 100 * time.Millisecond
	}
	s, err := New(b, kcfg)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ {
		ln, err = net.Listen("tcp", addr)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond) // the old listener's port may linger
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &testHub{t: t, dir: dir, b: b, s: s, addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- s.Serve(ctx, ln) }()
	t.Cleanup(h.stop)
	return h
}

// stop shuts the server and the broker down (idempotent).
func (h *testHub) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("serve: %v", err)
	}
	h.b.Close()
	h.cancel = nil
}

// client returns a franz-go client of h, closed at the end of the test.
func (h *testHub) client(opts ...kgo.Opt) *kgo.Client {
	h.t.Helper()
	return newClient(h.t, h.addr, opts...)
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.RetryTimeout(30 * time.Second)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// testCtx is a context bounded by a generous timeout.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// consumeN polls cl until n records arrived (or the test context ends).
func consumeN(t testing.TB, ctx context.Context, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		out = append(out, fs.Records()...)
	}
	return out
}

package agent

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/wal"
)

const waitLong = 60 * time.Second

func quietLogger() *slog.Logger {
	if os.Getenv("EDGELOG_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testAgent is an agent running in the test process on loopback ports.
type testAgent struct {
	*Agent
	t    testing.TB
	dir  string
	stop context.CancelFunc
	done chan error
	once sync.Once
}

// startAgent runs an agent with cfg (data dir, listeners and logger filled
// in when empty) until the test ends or stopAgent is called.
func startAgent(t testing.TB, cfg Config) *testAgent {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.MQTTAddr == "" {
		cfg.MQTTAddr = "127.0.0.1:0"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{Agent: a, t: t, dir: cfg.DataDir, stop: cancel, done: make(chan error, 1)}
	go func() { ta.done <- a.Run(ctx) }()
	waitFor(t, "agent ready", a.Ready)
	t.Cleanup(func() { ta.shutdown() })
	return ta
}

// shutdown stops the agent and waits for Run to return.
func (ta *testAgent) shutdown() {
	ta.t.Helper()
	ta.once.Do(func() {
		ta.stop()
		select {
		case err := <-ta.done:
			if err != nil {
				ta.t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLong):
			ta.t.Fatal("agent did not stop")
		}
	})
}

// waitFor polls cond until it holds or the long timeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// walRecord is one decoded WAL record.
type walRecord struct {
	Seq uint64
	record.Record
}

// readWAL decodes every record in an agent data directory.
func readWAL(t testing.TB, dataDir string) []walRecord {
	t.Helper()
	var out []walRecord
	rep, err := wal.Inspect(filepath.Join(dataDir, "wal"), func(seq uint64, p []byte) error {
		r, err := record.Decode(p)
		if err != nil {
			return err
		}
		out = append(out, walRecord{Seq: seq, Record: r})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Corrupt != nil {
		t.Fatalf("WAL corrupt: %v", rep.Corrupt)
	}
	return out
}

// pahoConnect connects an MQTT 3.1.1 paho client over TCP.
func pahoConnect(t testing.TB, addr, id string, opts ...func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	return pahoConnectURL(t, "tcp://"+addr, id, opts...)
}

// pahoConnectURL connects an MQTT 3.1.1 paho client to a broker URL.
func pahoConnectURL(t testing.TB, url, id string, opts ...func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).
		SetAutoReconnect(false).SetConnectRetry(false).SetProtocolVersion(4).
		SetConnectTimeout(30 * time.Second).SetWriteTimeout(30 * time.Second)
	for _, f := range opts {
		f(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(waitLong) || tok.Error() != nil {
		t.Fatalf("paho connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// waitToken waits for a paho token and fails the test on error.
func waitToken(t testing.TB, tok paho.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(waitLong) {
		t.Fatalf("%s: timed out", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// httpGet returns the status code and body of a GET on the agent's HTTP
// listener.
func httpGet(t testing.TB, a *Agent, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgelog/edgelog/internal/cli"
	"github.com/edgelog/edgelog/internal/pki"
)

// TestAgentBadFlags: every bad flag or config value is one line naming the
// key, exit code 2, and nothing starts.
func TestAgentBadFlags(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("when-full: sometimes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknown, []byte("max-disc: 1GiB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notBundle := filepath.Join(dir, "creds.pem")
	if err := os.WriteFile(notBundle, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		key  string
	}{
		{[]string{"--local-only=false"}, "hub"},
		{[]string{"--hub", "127.0.0.1:7070", "--local-only"}, "local-only"},
		{[]string{"--fsync", "sometimes"}, "fsync"},
		{[]string{"--when-full", "drop-newest"}, "when-full"},
		{[]string{"--max-disk", "lots"}, "max-disk"},
		{[]string{"--max-disk", "1MiB"}, "max-disk"},
		{[]string{"--listen-mqtt", "nowhere"}, "listen-mqtt"},
		{[]string{"--listen-http", ""}, "listen-http"},
		{[]string{"--max-pending", "0"}, "max-pending"},
		{[]string{"--write-timeout", "1ms"}, "write-timeout"},
		{[]string{"--hub", "127.0.0.1:7070"}, "credentials"},
		{[]string{"--credentials", notBundle}, "hub"},
		{[]string{"--hub", "127.0.0.1:7070", "--credentials", notBundle}, "credentials"},
		{[]string{"--hub", "nohost", "--credentials", notBundle}, "hub"},
		{[]string{"--listen-mqtt-tls", "127.0.0.1:0"}, "listen-mqtt-tls"},
		{[]string{"--log-level", "loud"}, "log-level"},
		{[]string{"--config", cfg}, "when-full"},
		{[]string{"--config", unknown}, "max-disc"},
		{[]string{"--devices", notBundle}, "devices"},
		{[]string{"--devices", filepath.Join(dir, "missing.yaml")}, "devices"},
	} {
		args := []string{"agent", "--data", filepath.Join(dir, "data"), "--listen-mqtt", "127.0.0.1:0", "--listen-http", "127.0.0.1:0"}
		if !slices.ContainsFunc(tc.args, func(a string) bool {
			return strings.HasPrefix(a, "--hub") || strings.HasPrefix(a, "--credentials") || strings.HasPrefix(a, "--local-only")
		}) {
			args = append(args, "--local-only")
		}
		args = append(args, tc.args...)
		code, _, stderr := runCmd(args...)
		if code != cli.ExitUsage || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, tc.key) {
			t.Errorf("agent %v: exit %d, stderr %q; want exit 2 and one line naming %q", tc.args, code, stderr, tc.key)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("a refused configuration created the data directory")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestAgentCommandRuns: the command serves MQTT from a YAML config with a
// hub and a credentials bundle, stores and acknowledges publishes while the
// hub is unreachable, and exits 0 on cancellation.
func TestAgentCommandRuns(t *testing.T) {
	dir := t.TempDir()
	mqttAddr, httpAddr := freeAddr(t), freeAddr(t)
	creds := writeTestBundle(t, dir, "gw-7")
	cfg := filepath.Join(dir, "agent.yaml")
	yaml := "listen-mqtt: " + mqttAddr + "\nlisten-http: " + httpAddr + "\nmax-disk: 64MiB\nwhen-full: drop-oldest\nhub: 127.0.0.1:7070\ncredentials: " + creds + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"agent", "--config", cfg, "--data", filepath.Join(dir, "data")}, &cli.Env{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &stderr})
	}()
	o := paho.NewClientOptions().AddBroker("tcp://" + mqttAddr).SetClientID("cli-dev").SetConnectRetry(true).SetConnectRetryInterval(50 * time.Millisecond)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
		cancel()
		t.Fatalf("connect: %v\n%s", tok.Error(), stderr.String())
	}
	if tok := c.Publish("cli/x", 1, false, "hi"); !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	c.Disconnect(100)
	for path, want := range map[string]string{"/v1/status": `"attached": true`, "/metrics": "edgelog_sync_"} {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Errorf("%s lacks %q:\n%s", path, want, body)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("agent exit %d: %s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("agent did not stop")
	}
	code, out, _ := runCmd("wal", "dump", filepath.Join(dir, "data"), "--format", "json")
	if code != 0 || !strings.Contains(out, `"topic":"cli/x"`) || !strings.Contains(out, `"client_id":"cli-dev"`) {
		t.Fatalf("wal dump after the agent: exit %d\n%s", code, out)
	}
}

// writeTestBundle mints a credentials bundle for agentID with a hub CA in
// dir, as edgelog hub credentials does.
func writeTestBundle(t *testing.T, dir, agentID string) string {
	t.Helper()
	ca, err := pki.LoadOrCreate(filepath.Join(dir, "hub"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ca.MintAgent(agentID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, agentID+".pem")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAgentSyncFlags: the sync tuning flags reach the shipper, and bad
// values are usage errors naming the flag.
func TestAgentSyncFlags(t *testing.T) {
	ok := agentFlags{hub: "hub:7070", maxUploadRate: 256 << 10, reconnectMax: 5 * time.Second, keepAlive: 2 * time.Second, idleTimeout: 8 * time.Second}
	sc, err := ok.syncConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Hub != "hub:7070" || sc.MaxUploadRate != 256<<10 || sc.BackoffMax != 5*time.Second || sc.BackoffBase > sc.BackoffMax ||
		sc.QUIC.KeepAlivePeriod != 2*time.Second || sc.QUIC.MaxIdleTimeout != 8*time.Second {
		t.Fatalf("shipper config %+v does not carry the flags", sc)
	}
	for _, tc := range []struct {
		edit func(*agentFlags)
		key  string
	}{
		{func(f *agentFlags) { f.maxUploadRate = -1 }, "max-upload-rate"},
		{func(f *agentFlags) { f.reconnectMax = 0 }, "reconnect-max"},
		{func(f *agentFlags) { f.idleTimeout = 0 }, "hub-idle-timeout"},
		{func(f *agentFlags) { f.keepAlive = 9 * time.Second }, "hub-keepalive"},
	} {
		f := ok
		tc.edit(&f)
		var ue *cli.UsageError
		if _, err := f.syncConfig(nil); !errors.As(err, &ue) || ue.Key != tc.key {
			t.Errorf("%s: got %v, want a usage error naming it", tc.key, err)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/internal/cli"
	"github.com/edgelog/edgelog/internal/pki"
	"github.com/twmb/franz-go/pkg/kgo"
)

// lockedBuffer is a bytes.Buffer safe for a logger and a test at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestHubBadFlags: every bad flag or config value is one line naming the
// key, exit code 2, and nothing starts.
func TestHubBadFlags(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte("partitions: many\n"), 0o600)
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("partition: 3\n"), 0o600)
	users := filepath.Join(dir, "users")
	os.WriteFile(users, []byte("no-colon\n"), 0o600)
	for _, tc := range []struct {
		args []string
		key  string
	}{
		{[]string{"--partitions", "0"}, "partitions"},
		{[]string{"--fsync", "sometimes"}, "fsync"},
		{[]string{"--fsync-interval", "soon"}, "fsync-interval"},
		{[]string{"--retention", "a week"}, "retention"},
		{[]string{"--retention-bytes", "lots"}, "retention-bytes"},
		{[]string{"--segment-bytes", "10"}, "segment-bytes"},
		{[]string{"--topic-partitions", "alerts"}, "topic-partitions"},
		{[]string{"--topic-partitions", "al/erts=3"}, "topic-partitions"},
		{[]string{"--topic-retention", "alerts=forever"}, "topic-retention"},
		{[]string{"--route", "a/#/b=x"}, "route"},
		{[]string{"--route", "a/+=bad topic"}, "route"},
		{[]string{"--listen-kafka", "nowhere"}, "listen-kafka"},
		{[]string{"--listen-sync", ""}, "listen-sync"},
		{[]string{"--advertise", "host"}, "advertise"},
		{[]string{"--kafka-tls-cert", "x.pem"}, "kafka-tls-cert"},
		{[]string{"--kafka-users", users}, "kafka-users"},
		{[]string{"--log-level", "loud"}, "log-level"},
		{[]string{"--config", cfg}, "partitions"},
		{[]string{"--config", unknown}, "partition"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		args := append([]string{"hub", "--data", filepath.Join(dir, "data"), "--listen-kafka", "127.0.0.1:0", "--listen-http", "127.0.0.1:0", "--listen-sync", "off"}, tc.args...)
		code, _, stderr := runCmd(args...)
		if code != cli.ExitUsage || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, tc.key) {
			t.Errorf("hub %v: exit %d, stderr %q; want exit 2 and one line naming %q", tc.args, code, stderr, tc.key)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("a refused configuration created the data directory")
	}
	for _, args := range [][]string{{"--data", dir}, {"--agent", "a"}, {"--agent", "", "--out", "x"}, {"--agent", "bad\x01id", "--out", filepath.Join(dir, "x")}} {
		if code, _, stderr := runCmd(append([]string{"hub", "credentials"}, args...)...); code != cli.ExitUsage {
			t.Errorf("hub credentials %q: exit %d %s", args, code, stderr)
		}
	}
}

// startHubCommand runs `edgelog hub` in-process until the test ends and
// returns its Kafka and HTTP addresses.
func startHubCommand(t *testing.T, dir string, extra ...string) (kafkaAddr, httpAddr string, stop func()) {
	t.Helper()
	kafkaAddr, httpAddr = freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &lockedBuffer{}
	done := make(chan int, 1)
	args := append([]string{"hub", "--data", dir, "--listen-kafka", kafkaAddr, "--listen-http", httpAddr, "--listen-sync", "127.0.0.1:0", "--partitions", "3"}, extra...)
	go func() {
		done <- run(ctx, args, &cli.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: stderr})
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("hub exited %d:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub not ready:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("hub exit %d:\n%s", code, stderr.String())
			}
		case <-time.After(60 * time.Second):
			t.Error("hub did not stop")
		}
	}
	t.Cleanup(stop)
	return kafkaAddr, httpAddr, stop
}

// TestHubAndConsumeCommands: records produced to the hub are printed by
// edgelog consume as text and JSON; a group resumes from its committed
// offsets across a hub restart; the hub mints agent credentials.
func TestHubAndConsumeCommands(t *testing.T) {
	dir := t.TempDir()
	kafkaAddr, _, stop := startHubCommand(t, dir, "--topic-partitions", "cfg=5")
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produce := func(vals ...string) {
		for _, v := range vals {
			r := &kgo.Record{Topic: "c", Key: []byte("dev-1"), Value: []byte(v), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce("first", "second\nline", string([]byte{0xff, 0x00}))
	code, out, stderr := runCmd("consume", "--kafka", kafkaAddr, "--topic", "c", "--from-beginning", "--max-records", "3")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasSuffix(lines[0], fmt.Sprintf(" c/%d@0 dev-1 first", hub.PartitionForKey([]byte("dev-1"), 3))) || !strings.HasSuffix(lines[1], `dev-1 second\nline`) || !strings.HasSuffix(lines[2], "dev-1 base64:/wA=") {
		t.Fatalf("consume text: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = runCmd("consume", "--kafka", kafkaAddr, "--topic", "c", "--from-beginning", "--max-records", "3", "--format", "json", "--group", "cg")
	if code != 0 {
		t.Fatalf("consume json: exit %d: %s", code, stderr)
	}
	var recs []consumedRecord
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r consumedRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		recs = append(recs, r)
	}
	if len(recs) != 3 || recs[0].Value != "first" || recs[0].ValueEncoding != "utf-8" || *recs[0].Key != "dev-1" || recs[0].Headers["h"] != "v" ||
		recs[2].Value != "/wA=" || recs[2].ValueEncoding != "base64" || recs[1].Offset != 1 || recs[0].Timestamp == 0 {
		t.Fatalf("consume json: %+v", recs)
	}
	// Restart: the group's offsets survive; only new records come.
	cl.Close()
	stop()
	kafkaAddr, httpAddr, _ := startHubCommand(t, dir)
	cl, _ = kgo.NewClient(kgo.SeedBrokers(kafkaAddr))
	defer cl.Close()
	produce("after-restart")
	code, out, stderr = runCmd("consume", "--kafka", kafkaAddr, "--topic", "c", "--from-beginning", "--max-records", "1", "--group", "cg")
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "dev-1 after-restart") {
		t.Fatalf("group resume after restart: exit %d\n%s\n%s", code, out, stderr)
	}
	resp, err := http.Get("http://" + httpAddr + "/v1/topics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"name": "cfg"`) || strings.Count(string(body), `"partition":`) != 8 {
		t.Fatalf("/v1/topics: %s", body)
	}
	// Credentials for an agent, signed by the CA the hub created.
	bundle := filepath.Join(t.TempDir(), "gw.pem")
	if code, out, stderr := runCmd("hub", "credentials", "--data", dir, "--agent", "gw-9", "--out", bundle); code != 0 || !strings.Contains(out, "gw-9") {
		t.Fatalf("credentials: %d %s %s", code, out, stderr)
	}
	if b, err := pki.LoadBundle(bundle); err != nil || b.ClientTLS() == nil {
		t.Fatalf("bundle: %v", err)
	}
	if st, _ := os.Stat(bundle); st.Mode().Perm() != 0o600 {
		t.Fatalf("bundle mode %v", st.Mode())
	}
	if code, _, _ := runCmd("hub", "credentials", "--data", dir, "--agent", "gw-9", "--out", bundle); code != cli.ExitUsage {
		t.Fatal("credentials overwrote an existing file without --force")
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgelog/edgelog/internal/testkit"
)

// The data directories under testdata/upgrade/v1 were written by the first
// released formats: a hub (topics telemetry and logs, 4 partitions, agent
// gw-old's ingest marks, consumer group upgrade-check) and that agent's WAL.
// Every later binary must read them: these tests fail when a format change
// forgets the older reader.
const upgradeData = "testdata/upgrade/v1"

func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestUpgradeReadsV1HubDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub process")
	}
	dir := copyTree(t, filepath.Join(upgradeData, "hub"))
	kafka, httpAddr := testkit.FreeTCP(t), testkit.FreeTCP(t)
	hub := testkit.Start(t, "hub", "hub", "--data", dir, "--listen-sync", "off",
		"--listen-kafka", kafka, "--listen-http", httpAddr)
	hub.WaitHTTP("http://"+httpAddr+"/readyz", 60*time.Second)

	ctx := context.Background()
	got, err := testkit.ReadTopic(ctx, kafka, "telemetry", 60*time.Second, func(r []testkit.HubRecord) bool { return len(r) >= 15 })
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, r := range got {
		if r.Headers["agent.id"] != "gw-old" || r.Headers["mqtt.topic"] != fmt.Sprintf("telemetry/%s/temp", r.Key) {
			t.Fatalf("record headers lost in the upgrade: %+v", r)
		}
		values = append(values, string(r.Value))
	}
	slices.Sort(values)
	var want []string
	for d := 1; d <= 3; d++ {
		for i := 1; i <= 5; i++ {
			want = append(want, fmt.Sprintf("dev-%d#%d", d, i))
		}
	}
	if !slices.Equal(values, want) {
		t.Fatalf("telemetry after upgrade = %v, want %v", values, want)
	}
	// Per-device order survived: within a key, agent.seq increases.
	last := map[string]uint64{}
	for _, r := range got {
		seq, err := strconv.ParseUint(r.Headers["agent.seq"], 10, 64)
		if err != nil || seq <= last[r.Key] {
			t.Fatalf("%s: agent.seq %q after %d: out of order after upgrade", r.Key, r.Headers["agent.seq"], last[r.Key])
		}
		last[r.Key] = seq
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "upgrade-check")
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
	if committed != 15 {
		t.Fatalf("group upgrade-check has %d committed records, want 15 (offsets did not survive the upgrade)", committed)
	}
}

func TestUpgradeReadsV1AgentWAL(t *testing.T) {
	dir := copyTree(t, filepath.Join(upgradeData, "agent"))
	if code, out, errOut := runCmd("wal", "verify", dir); code != 0 || !strings.Contains(out, "records:   16") {
		t.Fatalf("wal verify exit %d:\n%s%s", code, out, errOut)
	}
	code, out, _ := runCmd("wal", "dump", dir, "--format", "json")
	if code != 0 {
		t.Fatalf("wal dump exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var first, lastRec struct {
		Seq      uint64 `json:"seq"`
		ClientID string `json:"client_id"`
		Topic    string `json:"topic"`
		QoS      int    `json:"qos"`
		Error    string `json:"error"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &lastRec); err != nil {
		t.Fatal(err)
	}
	if first.Seq != 1 || first.ClientID != "dev-1" || first.Topic != "telemetry/dev-1/temp" || first.QoS != 1 || first.Error != "" {
		t.Fatalf("first record after upgrade: %+v", first)
	}
	if lastRec.Seq != 16 || lastRec.Topic != "logs/dev-1" || lastRec.QoS != 0 {
		t.Fatalf("last record after upgrade: %+v", lastRec)
	}
	if testing.Short() {
		return
	}
	// The current agent keeps appending to the old log.
	mqttAddr, httpAddr := testkit.FreeTCP(t), testkit.FreeTCP(t)
	agent := testkit.Start(t, "agent", "agent", "--local-only", "--data", dir, "--listen-mqtt", mqttAddr, "--listen-http", httpAddr)
	agent.WaitHTTP("http://"+httpAddr+"/readyz", 60*time.Second)
	dev := testkit.NewDevice(t, "tcp://"+mqttAddr, "dev-9", testkit.DeviceOptions{})
	dev.Publish(context.Background(), 1, 1)
	if len(dev.Acked()) != 1 {
		t.Fatal("the agent did not acknowledge a publish on an upgraded WAL")
	}
	if err := agent.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCmd("wal", "verify", dir); code != 0 || !strings.Contains(out, "sequences 1 to 17") {
		t.Fatalf("after appending: exit %d\n%s", code, out)
	}
}

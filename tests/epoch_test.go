package tests

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/testkit"
)

// TestRestoredAgentNewEpoch: an agent whose data directory was restored
// from an older copy meets an epoch conflict (the hub holds more of its
// WAL epoch than the log has). It keeps acknowledging into its WAL, ships
// nothing and says why in its status; after `edgelog wal new-epoch` every
// publish acknowledged since the restore reaches the hub (records the hub
// already had may arrive twice, under the new epoch).
func TestRestoredAgentNewEpoch(t *testing.T) {
	hub := testkit.StartHub(t, testkit.HubOptions{})
	creds := hub.Credentials(t, "gw-restored")
	dir := t.TempDir()
	ag := testkit.StartAgent(t, testkit.AgentOptions{Hub: hub.SyncAddr, Credentials: creds, Dir: dir})
	f := newFleet(t, ag.Broker(), "restored", 2, testkit.DeviceOptions{Topic: "restored/data"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	phase := func(n int) {
		t.Helper()
		if failed := f.publish(ctx, n, 1); failed > 0 {
			t.Fatalf("%d publishes not acknowledged", failed)
		}
	}
	phase(50)
	waitSynced(t, ag, time.Minute)
	stopAgent(t, ag)
	backup := t.TempDir()
	copyTree(t, dir, backup)
	ag.RestartReady()
	phase(50)
	waitSynced(t, ag, time.Minute)
	stopAgent(t, ag)

	// Restore the older copy: the hub holds 100 records of the epoch, the
	// log 50.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	copyTree(t, backup, dir)
	ag.RestartReady()
	phase(30)
	if err := testkit.Eventually(ctx, time.Minute, func() bool {
		st, err := ag.Status()
		return err == nil && strings.Contains(st.Hub.LastError, "epoch conflict")
	}); err != nil {
		st, _ := ag.Status()
		t.Fatalf("the restored agent does not report the epoch conflict: %+v", st.Hub)
	}
	got, err := testkit.ReadAll(ctx, hub.KafkaAddr, "restored", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if missing := len(testkit.CheckDelivery(f.acked(), got).Missing); missing != 60 {
		t.Fatalf("%d acknowledged publishes missing at the hub before new-epoch, want the 60 made after the restore", missing)
	}
	stopAgent(t, ag)

	out, err := exec.Command(testkit.Binary(t), "wal", "new-epoch", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("edgelog wal new-epoch: %v\n%s", err, out)
	}
	ag.RestartReady()
	waitSynced(t, ag, time.Minute)
	got, err = testkit.ReadAll(ctx, hub.KafkaAddr, "restored", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	d := testkit.CheckDelivery(f.acked(), got)
	if len(d.Missing) > 0 {
		t.Fatalf("after new-epoch: %s", d)
	}
	t.Logf("after new-epoch every acknowledged publish is at the hub; %d records arrived twice (the restored log's, under the new epoch)", len(d.Duplicated))
	healthy(t, hub.HTTPAddr, ag.HTTPAddr)
}

func stopAgent(t *testing.T, ag *testkit.Agent) {
	t.Helper()
	if err := ag.Stop(30 * time.Second); err != nil {
		t.Fatalf("stopping the agent: %v", err)
	}
}

// copyTree copies the regular files and directories under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/testkit"
)

// quotaArgs make a small WAL quota: 16 segments of 16 KiB.
var quotaArgs = []string{"--max-disk", "256KiB", "--max-packet-size", "4KiB"}

// TestDiskFullBlock fills the agent's WAL quota while the hub is
// unreachable, with --when-full block: the agent stops acknowledging
// (nothing more is acked while the disk stays full), and resumes once sync
// has freed space; everything acknowledged reaches the hub exactly once and
// the WAL verifies.
func TestDiskFullBlock(t *testing.T) {
	c := newNetClusterAgent(t, "gw-block", 1, testkit.AgentOptions{Args: append(quotaArgs, "--when-full", "block")})
	c.relay.SetDown(true)
	f := newFleet(t, c.agent.Broker(), "block", 2, testkit.DeviceOptions{PayloadSize: 500, RandomPad: true, AckTimeout: 10 * time.Second})
	f.run(1)
	waitStatus(t, c.agent, "the WAL full", func(s testkit.AgentStatus) bool { return s.WAL.Full })
	// Publishes admitted before the quota was reached may still be
	// acknowledged; let the devices go through a few refusals first. Then
	// the disk stays full while the hub is away: publishes go on being
	// refused, none is acknowledged.
	expectNoAcks(t, f)
	full := f.ackedTotal()
	st, err := c.agent.Status()
	if err != nil {
		t.Fatal(err)
	}
	if max := int64(256 << 10); st.WAL.SizeBytes > max+4<<10 {
		t.Errorf("WAL holds %d bytes, over its %d quota", st.WAL.SizeBytes, max)
	}
	if out, err := testkit.VerifyWAL(t, c.agent.Dir); err != nil {
		t.Fatalf("the full WAL does not verify: %v\n%s", err, out)
	}
	rejected, _ := c.agent.Metric(`edgelog_agent_rejected_publishes_total{reason="quota"}`)
	// The hub returns: sync frees space and acks resume.
	c.relay.SetDown(false)
	f.waitAcked(full + 200)
	f.stop()
	expectExactlyOnce(t, c.hub.KafkaAddr, "block", f.acked())
	f.keepsWorking(20, 1)
	healthy(t, c.hub.HTTPAddr, c.agent.HTTPAddr)
	if out, err := testkit.VerifyWAL(t, c.agent.Dir); err != nil {
		t.Fatalf("WAL does not verify: %v\n%s", err, out)
	}
	t.Logf("full after %d acks; %v publishes refused for quota; %d acked in all", full, rejected, f.ackedTotal())
}

// TestDiskFullDropOldest fills the quota with --when-full drop-oldest while
// the hub is unreachable, after some records were already synced (and, in
// the second form, after a SIGKILL and restart of the agent, which then
// knows the hub's position only from what it saved): the agent keeps
// acknowledging every publish; the hub's gap count is exactly what it lacks
// of the acknowledged publishes, the agent's drop count an upper bound of
// it, and what is missing is each device's oldest unsynced publishes.
func TestDiskFullDropOldest(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "running"
		if restart {
			name = "after-a-crash"
		}
		t.Run(name, func(t *testing.T) { dropOldest(t, restart) })
	}
}

func dropOldest(t *testing.T, restart bool) {
	const first = 50
	c := newNetClusterAgent(t, "gw-drop", 2, testkit.AgentOptions{Args: append(quotaArgs, "--when-full", "drop-oldest")})
	f := newFleet(t, c.agent.Broker(), "drop", 2, testkit.DeviceOptions{PayloadSize: 500, RandomPad: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Synced records that still share a segment with unsynced ones.
	if failed := f.publish(ctx, first, 1); failed > 0 {
		t.Fatalf("%d publishes not acknowledged", failed)
	}
	c.waitSynced(t, 3*time.Minute)
	c.relay.SetDown(true)
	if restart {
		c.agent.Kill()
		c.agent.RestartReady()
	}
	// About three quotas' worth, every one acknowledged.
	if failed := f.publish(ctx, 800, 1); failed > 0 {
		t.Fatalf("drop-oldest refused %d publishes", failed)
	}
	st, err := c.agent.Status()
	if err != nil {
		t.Fatal(err)
	}
	dropped := st.WAL.DroppedRecords
	metric, _ := c.agent.Metric("edgelog_agent_dropped_records_total")
	if dropped == 0 || metric != float64(dropped) {
		t.Fatalf("dropped: status %d, metric %v; want the same, above 0", dropped, metric)
	}
	if out, err := testkit.VerifyWAL(t, c.agent.Dir); err != nil {
		t.Fatalf("WAL does not verify: %v\n%s", err, out)
	}
	c.relay.SetDown(false)
	c.waitSynced(t, 3*time.Minute)
	got, err := testkit.ReadAll(ctx, c.hub.KafkaAddr, "drop", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	acked := f.acked()
	d := testkit.CheckDelivery(acked, got)
	if len(d.Duplicated)+len(d.OutOfOrder)+len(d.SplitKeys) > 0 {
		t.Fatalf("delivery: %s", d)
	}
	if bad := testkit.CheckAgentSeqs(got); len(bad) > 0 {
		t.Fatalf("hub records: %v", bad)
	}
	// The hub counts exactly what never arrived; the agent counts what it
	// deleted before the hub acknowledged it, which includes the records
	// already on their way (they may still arrive).
	gap, err := testkit.Metric("http://"+c.hub.HTTPAddr+"/metrics", "edgelog_hub_sync_gap_records_total")
	if err != nil {
		t.Fatal(err)
	}
	if int(gap) != len(d.Missing) || int64(len(d.Missing)) > dropped {
		t.Errorf("%d acknowledged publishes missing at the hub; the hub reports a gap of %v, the agent %d dropped", len(d.Missing), gap, dropped)
	}
	// What is missing is one run of each device's oldest unsynced
	// publishes: nothing that arrived lies between two missing ones.
	missing := map[string]bool{}
	for _, m := range d.Missing {
		missing[m] = true
	}
	for _, dev := range f.devs {
		state := 0 // 0 before the gap, 1 in it, 2 after it
		for _, n := range acked[dev.ID] {
			gone := missing[fmt.Sprintf("%s#%d", dev.ID, n)]
			switch {
			case gone && state == 0:
				state = 1
			case !gone && state == 1:
				state = 2
			case gone && state == 2:
				t.Errorf("%s#%d is missing after later publishes of the device arrived: drop-oldest dropped something other than the oldest", dev.ID, n)
			}
		}
	}
	f.keepsWorking(20, 1)
	healthy(t, c.hub.HTTPAddr, c.agent.HTTPAddr)
	t.Logf("agent dropped %d, hub gap %v, of %d acknowledged; %s", dropped, gap, d.Acked, d)
}

// waitStatus polls the agent's status until cond holds.
func waitStatus(t testing.TB, a *testkit.Agent, what string, cond func(testkit.AgentStatus) bool) testkit.AgentStatus {
	t.Helper()
	var last testkit.AgentStatus
	if err := testkit.Eventually(context.Background(), 3*time.Minute, func() bool {
		s, err := a.Status()
		last = s
		return err == nil && cond(s)
	}); err != nil {
		t.Fatalf("waiting for %s: %v (status %+v)", what, err, last)
	}
	return last
}

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory, or skips
// the test where the machine does not allow it.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small filesystem needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestDiskFullFilesystem puts the agent's data on a small tmpfs that fills
// up before the agent's quota (a genuinely full disk) while the hub is
// unreachable: the agent stops acknowledging (a failed WAL write is never
// acknowledged) and resumes on its own once sync has freed space; nothing acknowledged is lost or stored twice and the WAL
// verifies. The quota policy does not apply below --max-disk: drop-oldest
// also stops acknowledging on a full filesystem (docs/RELIABILITY.md).
func TestDiskFullFilesystem(t *testing.T) {
	for _, policy := range []string{"block", "drop-oldest"} {
		t.Run(policy, func(t *testing.T) {
			dir := mountTmpfs(t, "1m")
			c := newNetClusterAgent(t, "gw-fs-"+policy, 3, testkit.AgentOptions{Dir: dir,
				Args: []string{"--max-disk", "4MiB", "--max-packet-size", "4KiB", "--when-full", policy}})
			c.relay.SetDown(true)
			topic := "fs-" + policy
			f := newFleet(t, c.agent.Broker(), topic, 2, testkit.DeviceOptions{PayloadSize: 500, RandomPad: true, AckTimeout: 10 * time.Second})
			f.run(1)
			if err := testkit.Eventually(context.Background(), 3*time.Minute, func() bool {
				v, _ := c.agent.Metric(`edgelog_agent_rejected_publishes_total{reason="wal_failed"}`)
				return v > 0
			}); err != nil {
				t.Fatalf("the filesystem did not fill (%d acknowledged): %v", f.ackedTotal(), err)
			}
			// A full filesystem is no sharp limit: each time the agent
			// reopens its WAL (cutting a failed write) a record or two
			// may fit, and is acknowledged once durable. Nearly every
			// publish must be refused, though.
			attempts, acked := f.sent(), f.ackedTotal()
			if err := testkit.Eventually(context.Background(), 2*time.Minute, func() bool { return f.sent() >= attempts+200 }); err != nil {
				t.Fatalf("devices stopped trying: %v", err)
			}
			if n := f.ackedTotal() - acked; n > 20 {
				t.Fatalf("%d of 200 publishes acknowledged on a full filesystem", n)
			}
			if out, err := testkit.VerifyWAL(t, dir); err != nil {
				t.Fatalf("the WAL on the full filesystem does not verify: %v\n%s", err, out)
			}
			full := f.ackedTotal()
			c.relay.SetDown(false)
			f.waitAcked(full + 200)
			f.stop()
			expectExactlyOnce(t, c.hub.KafkaAddr, topic, f.acked())
			f.keepsWorking(20, 1)
			healthy(t, c.hub.HTTPAddr, c.agent.HTTPAddr)
			if out, err := testkit.VerifyWAL(t, dir); err != nil {
				t.Fatalf("WAL does not verify: %v\n%s", err, out)
			}
			reopens, _ := c.agent.Metric("edgelog_agent_wal_reopens_total")
			t.Logf("filesystem full after %d acks; WAL reopened %v times; %d acknowledged in all", full, reopens, f.ackedTotal())
		})
	}
}

// expectNoAcks lets the fleet's devices go through 50 more attempts (so
// that publishes admitted before the agent started refusing are answered),
// then checks that 100 more attempts get no acknowledgement.
func expectNoAcks(t *testing.T, f *fleet) {
	t.Helper()
	moreAttempts := func(n int) {
		t.Helper()
		attempts := f.sent()
		if err := testkit.Eventually(context.Background(), 2*time.Minute, func() bool { return f.sent() >= attempts+n }); err != nil {
			t.Fatalf("devices stopped trying: %v", err)
		}
	}
	moreAttempts(50)
	before := f.ackedTotal()
	moreAttempts(100)
	if got := f.ackedTotal(); got != before {
		t.Fatalf("%d publishes acknowledged while the agent could not store them", got-before)
	}
}

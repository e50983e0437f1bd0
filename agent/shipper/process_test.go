package shipper_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/testkit"
)

// TestProcessesExactlyOnce runs the real edgelog binary: a hub and an agent
// on loopback, ten MQTT devices publishing QoS 1 to the agent, a Kafka
// client reading the hub. The hub is SIGKILLed mid-stream and restarted,
// then the agent, then both; every publish a device saw acknowledged must
// be read at the hub exactly once, in per-device order.
func TestProcessesExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real hub and agent processes")
	}
	const devices, perPhase = 10, 1500
	hubDir, agentDir := t.TempDir(), t.TempDir()
	syncAddr, kafkaAddr, hubHTTP := testkit.FreeUDP(t), testkit.FreeTCP(t), testkit.FreeTCP(t)
	hub := testkit.Start(t, "hub", "hub", "--data", hubDir, "--listen-sync", syncAddr, "--listen-kafka", kafkaAddr,
		"--listen-http", hubHTTP, "--partitions", "4", "--log-level", "warn")
	hub.WaitHTTP("http://"+hubHTTP+"/readyz", 2*time.Minute)
	creds := filepath.Join(t.TempDir(), "gw-1.pem")
	if out, err := exec.Command(testkit.Binary(t), "hub", "credentials", "--data", hubDir, "--agent", "gw-1", "--out", creds).CombinedOutput(); err != nil {
		t.Fatalf("edgelog hub credentials: %v\n%s", err, out)
	}
	mqttAddr, agentHTTP := testkit.FreeTCP(t), testkit.FreeTCP(t)
	agent := testkit.Start(t, "agent", "agent", "--data", agentDir, "--hub", syncAddr, "--credentials", creds,
		"--listen-mqtt", mqttAddr, "--listen-http", agentHTTP, "--log-level", "warn")
	agent.WaitHTTP("http://"+agentHTTP+"/readyz", 2*time.Minute)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	devs := make([]*testkit.Device, devices)
	for i := range devs {
		devs[i] = testkit.NewDevice(t, "tcp://"+mqttAddr, fmt.Sprintf("dev-%02d", i), testkit.DeviceOptions{InFlight: 20, PayloadSize: 200})
	}
	ackedTotal := func() int {
		n := 0
		for _, d := range devs {
			n += len(d.Acked())
		}
		return n
	}
	publish := func(n int) *sync.WaitGroup {
		var wg sync.WaitGroup
		for _, d := range devs {
			wg.Go(func() { d.Publish(ctx, n, 1) })
		}
		return &wg
	}
	crash := func(what string, at int, procs ...*testkit.Process) {
		if err := testkit.Eventually(ctx, 5*time.Minute, func() bool { return ackedTotal() >= at }); err != nil {
			t.Fatalf("before killing the %s: %d acks: %v", what, ackedTotal(), err)
		}
		for _, p := range procs {
			p.Kill()
		}
		for _, p := range procs {
			p.Restart()
		}
		hub.WaitHTTP("http://"+hubHTTP+"/readyz", 2*time.Minute)
		agent.WaitHTTP("http://"+agentHTTP+"/readyz", 2*time.Minute)
	}
	wg := publish(perPhase)
	crash("hub", devices*perPhase/4, hub)
	crash("agent", devices*perPhase/2, agent)
	crash("hub and agent", devices*perPhase*3/4, hub, agent)
	wg.Wait()
	publish(perPhase / 5).Wait() // after the last restart
	if ctx.Err() != nil {
		t.Fatal("publishing did not finish")
	}
	acked := map[string][]int{}
	for _, d := range devs {
		acked[d.ID] = d.Acked()
	}
	got, err := testkit.ReadTopic(ctx, kafkaAddr, "telemetry", 3*time.Minute, testkit.AllAckedPresent(acked))
	if err != nil {
		t.Fatal(err)
	}
	d := testkit.CheckDelivery(acked, got)
	if len(d.Missing) > 0 || len(d.SplitKeys) > 0 || d.Acked < devices*perPhase {
		t.Fatalf("%s", d)
	}
	checkAgentSeqs(t, got, "gw-1")
	// A device whose connection broke (the agent was killed) resends its
	// unacknowledged QoS 1 publishes after reconnecting: MQTT's at-least-
	// once. The agent stores each resend as a new record, so the same
	// message may appear under two agent sequences; what sync guarantees is
	// checked above on (agent, seq).
	t.Logf("%s", d)
}

// checkAgentSeqs checks what the sync layer promises: every (agent, seq) at
// most once, and each device's records in one partition in the agent's
// receive order.
func checkAgentSeqs(t *testing.T, got []testkit.HubRecord, agentID string) {
	t.Helper()
	seen := map[uint64]bool{}
	type pos struct {
		part int32
		off  int64
		seq  uint64
	}
	last := map[string]pos{}
	for _, r := range got {
		if r.Headers["agent.id"] != agentID {
			t.Fatalf("record from agent %q", r.Headers["agent.id"])
		}
		seq, err := strconv.ParseUint(r.Headers["agent.seq"], 10, 64)
		if err != nil {
			t.Fatalf("agent.seq %q", r.Headers["agent.seq"])
		}
		if seen[seq] {
			t.Fatalf("agent sequence %d at the hub twice", seq)
		}
		seen[seq] = true
		if p, ok := last[r.Key]; ok && p.part == r.Partition && p.off < r.Offset && p.seq > seq {
			t.Fatalf("device %s: seq %d at offset %d after seq %d at offset %d", r.Key, seq, r.Offset, p.seq, p.off)
		}
		if p, ok := last[r.Key]; !ok || p.part != r.Partition || r.Offset > p.off {
			last[r.Key] = pos{r.Partition, r.Offset, seq}
		}
	}
}

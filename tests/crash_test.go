package tests

import (
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/testkit"
)

// TestCrashRandomKills SIGKILLs the agent, the hub, or both, at random
// instants while devices publish (QoS 1 and 2) and the agent syncs, and
// restarts them after a random pause: every acknowledged publish must be at
// the hub exactly once, in per-device order, and both processes must be
// healthy and keep working. EDGELOG_CRASH_ROUNDS overrides the number of
// rounds (5; 30 in soak mode).
func TestCrashRandomKills(t *testing.T) {
	rounds := envInt("EDGELOG_CRASH_ROUNDS", pick(5, 30))
	r := newRand(t)
	hub := testkit.StartHub(t, testkit.HubOptions{})
	ag := testkit.StartAgent(t, testkit.AgentOptions{Hub: hub.SyncAddr, Credentials: hub.Credentials(t, "gw-crash")})
	f := newFleet(t, ag.Broker(), "crash", 6, testkit.DeviceOptions{InFlight: 20, PayloadSize: 120, AckTimeout: 30 * time.Second})
	f.run(1, 1, 2)
	kills := map[string]int{}
	for round := 1; round <= rounds; round++ {
		// Some progress since the last restart, then a random instant.
		f.waitAcked(f.ackedTotal() + 50)
		time.Sleep(between(r, 0, 2*time.Second))
		victim := []string{"agent", "hub", "both"}[r.IntN(3)]
		kills[victim]++
		switch victim {
		case "agent":
			ag.Kill()
		case "hub":
			hub.Kill()
		case "both":
			if r.IntN(2) == 0 {
				ag.Kill()
				hub.Kill()
			} else {
				hub.Kill()
				ag.Kill()
			}
		}
		if !ag.Running() {
			if out, err := testkit.VerifyWAL(t, ag.Dir); err != nil {
				t.Fatalf("round %d: the killed agent's WAL does not verify: %v\n%s", round, err, out)
			}
		}
		time.Sleep(between(r, 0, time.Second))
		if !hub.Running() {
			hub.RestartReady()
		}
		if !ag.Running() {
			ag.RestartReady()
		}
		t.Logf("round %d: killed %s; %d publishes acknowledged so far", round, victim, f.ackedTotal())
	}
	f.stop()
	healthy(t, hub.HTTPAddr, ag.HTTPAddr)
	f.keepsWorking(20, 1)
	expectExactlyOnce(t, hub.KafkaAddr, "crash", f.acked())
	t.Logf("%d rounds (agent %d, hub %d, both %d); %d publishes failed or were cut off by a kill",
		rounds, kills["agent"], kills["hub"], kills["both"], f.failed())
}

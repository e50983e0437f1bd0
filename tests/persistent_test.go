package tests

import (
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/testkit"
)

// TestCrashPersistentSessions is TestCrashRandomKills for devices with
// persistent sessions, which resend their unacknowledged QoS 1/2 publishes
// (DUP) after reconnecting: a resend of a publish the killed agent had
// already stored must not be stored again.
func TestCrashPersistentSessions(t *testing.T) {
	rounds := envInt("EDGELOG_CRASH_ROUNDS", pick(5, 30))
	r := newRand(t)
	hub := testkit.StartHub(t, testkit.HubOptions{})
	ag := testkit.StartAgent(t, testkit.AgentOptions{Hub: hub.SyncAddr, Credentials: hub.Credentials(t, "gw-persist")})
	f := newFleet(t, ag.Broker(), "persist", 6, testkit.DeviceOptions{InFlight: 20, PayloadSize: 120, Persistent: true, AckTimeout: 30 * time.Second})
	f.run(1, 1, 2)
	for round := 1; round <= rounds; round++ {
		f.waitAcked(f.ackedTotal() + 50)
		time.Sleep(between(r, 0, 2*time.Second))
		ag.Kill()
		time.Sleep(between(r, 0, time.Second))
		ag.RestartReady()
		t.Logf("round %d: killed the agent; %d publishes acknowledged so far", round, f.ackedTotal())
	}
	f.stop()
	healthy(t, hub.HTTPAddr, ag.HTTPAddr)
	f.keepsWorking(20, 1)
	// paho resends a session's unacknowledged publishes while new ones
	// already flow, so a device's send order is not its receive order.
	expectDelivered(t, hub.KafkaAddr, "persist", f.acked(), false)
}

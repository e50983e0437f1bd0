package tests

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/testkit"
)

// TestPowerLoss cuts the agent's power at random instants while devices
// publish and the agent syncs: the agent's WAL runs on a fault-injecting
// filesystem (the test build's EDGELOG_FAULT_POWERCUT hook) that, on
// SIGUSR1, stops the disk, rewinds every file to what was fsynced — leaving
// nothing, half (a torn write) or zeros of what was not — and kills the
// process. The WAL must verify, the agent restart, and every acknowledged
// publish reach the hub exactly once.
func TestPowerLoss(t *testing.T) {
	for _, mode := range []string{"drop", "tear", "zero"} {
		t.Run(mode, func(t *testing.T) {
			r := newRand(t)
			hub := testkit.StartHub(t, testkit.HubOptions{})
			ag := testkit.StartAgent(t, testkit.AgentOptions{Hub: hub.SyncAddr, Credentials: hub.Credentials(t, "gw-power"),
				Env: []string{"EDGELOG_FAULT_POWERCUT=" + mode}})
			topic := "power-" + mode
			f := newFleet(t, ag.Broker(), topic, 4, testkit.DeviceOptions{PayloadSize: 150, AckTimeout: 30 * time.Second})
			f.run(1, 2)
			rounds := pick(2, 10)
			var repaired int64
			for round := 1; round <= rounds; round++ {
				f.waitAcked(f.ackedTotal() + 100)
				time.Sleep(between(r, 0, time.Second))
				if err := ag.Signal(syscall.SIGUSR1); err != nil {
					t.Fatal(err)
				}
				if !ag.Wait(time.Minute) {
					t.Fatal("the agent did not die after its power cut")
				}
				if n := strings.Count(ag.Logs(), "power cut"); n != round {
					t.Fatalf("the agent logged %d power cuts after %d rounds: is the binary built with the test hooks?", n, round)
				}
				if out, err := testkit.VerifyWAL(t, ag.Dir); err != nil {
					t.Fatalf("round %d: the WAL does not verify after a power cut: %v\n%s", round, err, out)
				}
				ag.RestartReady()
				if st, err := ag.Status(); err == nil {
					repaired += st.WAL.RepairedBytes
				}
			}
			f.stop()
			healthy(t, hub.HTTPAddr, ag.HTTPAddr)
			f.keepsWorking(20, 1)
			expectExactlyOnce(t, hub.KafkaAddr, topic, f.acked())
			t.Logf("%d power cuts (%s): %d torn-tail bytes repaired on restart", rounds, mode, repaired)
		})
	}
}

package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/netchaos"
	"github.com/edgelog/edgelog/internal/testkit"
)

// netCluster is a hub, an impairing UDP relay in front of its sync
// endpoint, and an agent that reaches the hub only through the relay.
type netCluster struct {
	hub   *testkit.Hub
	relay *netchaos.Relay
	agent *testkit.Agent
	id    string
}

func newNetCluster(t *testing.T, id string, seed uint64) *netCluster {
	t.Helper()
	return newNetClusterAgent(t, id, seed, testkit.AgentOptions{})
}

// newNetClusterAgent is newNetCluster with agent options (Hub and
// Credentials are filled in).
func newNetClusterAgent(t *testing.T, id string, seed uint64, o testkit.AgentOptions) *netCluster {
	t.Helper()
	hub := testkit.StartHub(t, testkit.HubOptions{})
	relay, err := netchaos.New(netchaos.Config{Target: hub.SyncAddr, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	o.Hub, o.Credentials = relay.Addr().String(), hub.Credentials(t, id)
	ag := testkit.StartAgent(t, o)
	c := &netCluster{hub: hub, relay: relay, agent: ag, id: id}
	c.waitConnected(t)
	return c
}

// waitConnected waits until the agent reports a live sync session.
func (c *netCluster) waitConnected(t testing.TB) {
	t.Helper()
	if err := testkit.Eventually(context.Background(), 3*time.Minute, func() bool {
		st, err := c.agent.Status()
		return err == nil && st.Hub.Connected
	}); err != nil {
		st, _ := c.agent.Status()
		t.Fatalf("agent not connected to the hub (last error %q): %v", st.Hub.LastError, err)
	}
}

// waitSynced waits until the hub has acknowledged everything the agent
// held durably when it was called.
func (c *netCluster) waitSynced(t testing.TB, timeout time.Duration) {
	t.Helper()
	waitSynced(t, c.agent, timeout)
}

// waitSynced waits until the hub has acknowledged everything ag held
// durably when it was called.
func waitSynced(t testing.TB, ag *testkit.Agent, timeout time.Duration) {
	t.Helper()
	st, err := ag.Status()
	if err != nil {
		t.Fatal(err)
	}
	target := st.WAL.DurableSeq
	if err := testkit.Eventually(context.Background(), timeout, func() bool {
		s, err := ag.Status()
		return err == nil && s.Hub.AckedSeq >= target
	}); err != nil {
		s, _ := ag.Status()
		t.Fatalf("hub acknowledged %d of %d: %v (sync error %q)", s.Hub.AckedSeq, target, err, s.Hub.LastError)
	}
}

// reconnects is the agent's count of sync connection attempts after the
// first.
func (c *netCluster) reconnects(t testing.TB) float64 {
	t.Helper()
	v, err := c.agent.Metric("edgelog_sync_reconnects_total")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestNetwork runs devices against an agent whose only way to the hub is an
// impairing relay, one link condition per subtest; in each, every
// acknowledged publish must reach the hub exactly once, in order, and the
// agent must end up connected and ready.
func TestNetwork(t *testing.T) {
	r := newRand(t)
	c := newNetCluster(t, "gw-net", r.Uint64())
	perDevice := pick(500, 5000)
	// Paced devices with incompressible payloads: the link carries
	// hundreds of datagrams per subtest.
	dev := testkit.DeviceOptions{PayloadSize: 250, RandomPad: true, Interval: time.Millisecond}
	// Devices that publish for minutes in soak mode go slower.
	long := dev
	long.Interval = pick(time.Millisecond, 10*time.Millisecond)
	// impaired publishes perDevice messages from each of 4 devices while
	// the link has imp, and checks delivery with the impairment still on.
	impaired := func(name string, imp netchaos.Impairment) {
		t.Run(name, func(t *testing.T) {
			c.relay.SetImpairment(imp, imp)
			defer c.relay.SetImpairment(netchaos.Impairment{}, netchaos.Impairment{})
			f := newFleet(t, c.agent.Broker(), name, 4, dev)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if failed := f.publish(ctx, perDevice, 1); failed > 0 {
				t.Fatalf("%d publishes not acknowledged by the agent", failed)
			}
			expectExactlyOnce(t, c.hub.KafkaAddr, name, f.acked())
			healthy(t, c.hub.HTTPAddr, c.agent.HTTPAddr)
			st := c.relay.Stats()
			t.Logf("relay: up %+v; down %+v", st.Up, st.Down)
		})
	}
	losses := pick([]float64{0.05, 0.30}, []float64{0.01, 0.05, 0.10, 0.20, 0.30})
	for _, p := range losses {
		impaired(fmt.Sprintf("loss-%d", int(p*100)), netchaos.Impairment{Loss: p})
	}
	impaired("delay-jitter", netchaos.Impairment{Delay: 40 * time.Millisecond, Jitter: 40 * time.Millisecond})
	impaired("reorder", netchaos.Impairment{Reorder: 0.25, ReorderBy: 15 * time.Millisecond})
	impaired("duplicate", netchaos.Impairment{Duplicate: 0.25})
	impaired("everything", netchaos.Impairment{Loss: 0.05, Duplicate: 0.05, Delay: 20 * time.Millisecond, Jitter: 30 * time.Millisecond, Reorder: 0.1})

	// Blackouts while the devices publish: the agent keeps acknowledging
	// (the WAL holds the backlog) and catches up when the link returns.
	t.Run("blackouts", func(t *testing.T) {
		f := newFleet(t, c.agent.Broker(), "blackouts", 4, long)
		f.run(1)
		outages := pick([]time.Duration{2 * time.Second, 5 * time.Second, 3 * time.Second}, []time.Duration{10 * time.Second, 90 * time.Second, 3 * time.Minute})
		for _, d := range outages {
			f.waitAcked(f.ackedTotal() + 200)
			c.relay.Blackout(d)
			time.Sleep(d)
		}
		f.waitAcked(f.ackedTotal() + 200)
		f.stop()
		c.waitConnected(t)
		expectExactlyOnce(t, c.hub.KafkaAddr, "blackouts", f.acked())
		healthy(t, c.hub.HTTPAddr, c.agent.HTTPAddr)
		t.Logf("blackouts %v: %d datagrams dropped", outages, c.relay.Stats().Up.Blackout+c.relay.Stats().Down.Blackout)
	})

	// A link that flaps every few seconds.
	t.Run("flapping", func(t *testing.T) {
		f := newFleet(t, c.agent.Broker(), "flapping", 4, long)
		f.run(1)
		ctx, cancel := context.WithTimeout(context.Background(), pick(15*time.Second, 3*time.Minute))
		c.relay.Flap(ctx, 2*time.Second, time.Second+500*time.Millisecond)
		cancel()
		f.stop()
		c.waitConnected(t)
		expectExactlyOnce(t, c.hub.KafkaAddr, "flapping", f.acked())
		healthy(t, c.hub.HTTPAddr, c.agent.HTTPAddr)
	})

	// The client's address changes mid-stream (a NAT rebinding): QUIC
	// migrates the connection; the session survives and keeps shipping.
	t.Run("address-change", func(t *testing.T) {
		f := newFleet(t, c.agent.Broker(), "rebind", 4, long)
		before, rebinds := c.reconnects(t), c.relay.Stats().Rebinds
		f.run(1)
		n := pick(3, 10)
		for range n {
			f.waitAcked(f.ackedTotal() + 300)
			if err := c.relay.Rebind(); err != nil {
				t.Fatal(err)
			}
			f.waitAcked(f.ackedTotal() + 300)
			c.waitSynced(t, 3*time.Minute)
		}
		f.stop()
		expectExactlyOnce(t, c.hub.KafkaAddr, "rebind", f.acked())
		if after := c.reconnects(t); after != before {
			t.Errorf("the agent reconnected %v times across %d address changes; QUIC migration should keep the session", after-before, n)
		}
		if got := c.relay.Stats().Rebinds - rebinds; got != uint64(n) {
			t.Errorf("relay rebound %d times, want %d", got, n)
		}
	})

	// A 50 kbit/s link, saturated by a backlog of incompressible records:
	// liveness must hold (heartbeats never starve behind data), so the
	// session stays up and the agent reports connected throughout.
	t.Run("50kbit", func(t *testing.T) {
		const rate = 50_000 / 8
		c.waitConnected(t)
		c.waitSynced(t, 3*time.Minute)
		slow := netchaos.Impairment{RateBytes: rate, QueueBytes: 16 << 10}
		c.relay.SetImpairment(slow, slow)
		defer c.relay.SetImpairment(netchaos.Impairment{}, netchaos.Impairment{})
		before := c.reconnects(t)
		f := newFleet(t, c.agent.Broker(), "slowlink", 2, testkit.DeviceOptions{PayloadSize: 1000, RandomPad: true, Interval: 20 * time.Millisecond})
		f.run(1)
		watch := pick(30*time.Second, 5*time.Minute)
		var samples, down int
		for end := time.Now().Add(watch); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			st, err := c.agent.Status()
			if err != nil {
				t.Fatal(err)
			}
			samples++
			if !st.Hub.Connected {
				down++
			}
		}
		f.stop()
		st, _ := c.agent.Status()
		reconnected := c.reconnects(t) - before
		ha, _ := c.hub.Agent(c.id)
		t.Logf("over %v at 50 kbit/s: connected in %d of %d samples, %v reconnects; hub acked %d of %d durable, last contact %v ago; relay up %+v",
			watch, samples-down, samples, reconnected, st.Hub.AckedSeq, st.WAL.DurableSeq, time.Since(ha.LastContact).Round(time.Millisecond), c.relay.Stats().Up)
		if down > 0 || reconnected > 0 {
			t.Errorf("the session did not survive a saturated 50 kbit/s link: disconnected in %d of %d samples, %v reconnects", down, samples, reconnected)
		}
		if st.WAL.DurableSeq <= st.Hub.AckedSeq {
			t.Errorf("the link was not saturated: the hub kept up (acked %d of %d)", st.Hub.AckedSeq, st.WAL.DurableSeq)
		}
		c.relay.SetImpairment(netchaos.Impairment{}, netchaos.Impairment{})
		expectExactlyOnce(t, c.hub.KafkaAddr, "slowlink", f.acked())
	})
}

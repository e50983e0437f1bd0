package sim_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/edgelog/edgelog/agent"
	"github.com/edgelog/edgelog/devices"
	"github.com/edgelog/edgelog/firmware-sim/sim"
	"github.com/edgelog/edgelog/record"
)

// envInt reads a size knob of the agent test; the defaults keep it short,
// EDGELOG_SIM_DEVICES=200 EDGELOG_SIM_RATE=5 EDGELOG_SIM_SECONDS=60 is the
// full-size run.
func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

type key struct {
	client string
	seq    uint64
}

// TestFleetAgainstAgent runs a chaotic fleet with bad actors against a real
// agent enforcing a registry, then checks that the agent's WAL holds every
// message the simulator saw acknowledged, and that bad actors were refused.
func TestFleetAgainstAgent(t *testing.T) {
	nDev := envInt(t, "EDGELOG_SIM_DEVICES", 30)
	rate := envInt(t, "EDGELOG_SIM_RATE", 5)
	seconds := envInt(t, "EDGELOG_SIM_SECONDS", 5)

	dir := t.TempDir()
	regPath, credsPath := filepath.Join(dir, "devices.yaml"), filepath.Join(dir, "creds.yaml")
	if err := sim.ProvisionFiles(regPath, credsPath, sim.ProvisionOptions{Devices: nDev, BadActors: 4, Cost: bcrypt.MinCost}); err != nil {
		t.Fatal(err)
	}
	reg, err := devices.Load(regPath)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := sim.LoadCredentials(credsPath)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{DataDir: filepath.Join(dir, "agent"), MQTTAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Devices: reg, MaxPacketSize: 256 << 10, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stopAgent := context.WithCancel(context.Background())
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(ctx) }()
	defer func() {
		stopAgent()
		if err := <-agentDone; err != nil {
			t.Errorf("agent Run: %v", err)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !a.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("agent not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}

	var mu sync.Mutex
	acked := map[key]bool{}
	runCtx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second+3*time.Minute)
	defer cancel()
	rep, err := sim.Run(runCtx, sim.Config{
		Broker: "tcp://" + a.MQTTAddr(), Profile: "hostile", Devices: nDev, Rate: float64(rate), QoS: 1,
		Duration: time.Duration(seconds) * time.Second, Chaos: true, ChaosInterval: 2 * time.Second,
		Credentials: creds, BadInterval: 500 * time.Millisecond, RefuseTimeout: 2 * time.Second,
		OversizeBytes: 512 << 10, DrainTimeout: 2 * time.Minute,
		OnAck: func(k sim.Ack) {
			mu.Lock()
			acked[key{k.ClientID, k.Seq}] = true
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated %d sent %d acked %d failed %d dropped %d unsent %d kills %d reconnects %d; p50 %.1fms p99 %.1fms; bad %+v",
		rep.Generated, rep.Sent, rep.Acked, rep.Failed, rep.Dropped, rep.Unsent, rep.ChaosKills, rep.Reconnects,
		rep.AckLatencyMs.P50, rep.AckLatencyMs.P99, rep.Bad)

	inWAL := map[key]bool{}
	r, err := a.WAL().NewReader(a.WAL().First())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		_, data, ok, err := r.TryNext()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		rec, err := record.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if h, err := sim.DecodeHeader(rec.Payload); err == nil {
			inWAL[key{rec.ClientID, h.Seq}] = true
		}
	}
	if uint64(len(acked)) != rep.Acked || rep.Acked == 0 {
		t.Fatalf("OnAck saw %d messages, report says %d acked", len(acked), rep.Acked)
	}
	missing := 0
	for k := range acked {
		if !inWAL[k] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged messages are not in the agent's WAL", missing, len(acked))
	}
	if rep.ChaosKills == 0 || rep.Unsent != 0 {
		t.Errorf("chaos kills %d, unsent %d", rep.ChaosKills, rep.Unsent)
	}
	for _, kind := range sim.AllBadKinds() {
		if b := rep.Bad[kind]; b.Refused == 0 || b.Accepted != 0 {
			t.Errorf("bad actor %s: %+v", kind, b)
		}
	}
}

package sim

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgelog/edgelog/devices"
	"golang.org/x/crypto/bcrypt"
)

func runFleet(t *testing.T, cfg Config) Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v (report %+v)", err, rep.Stats)
	}
	return rep
}

// checkAccounting asserts what the contract promises about the counters and
// that every acknowledged message reached the broker.
func checkAccounting(t *testing.T, rep Report, b *testBroker, acks *ackLog) {
	t.Helper()
	s := rep.Stats
	if got := s.Acked + s.DeliveredQoS0 + s.LostQoS0 + s.Dropped + s.Unsent; got != s.Generated {
		t.Errorf("accounting: acked %d + qos0 %d + lost0 %d + dropped %d + unsent %d = %d, generated %d",
			s.Acked, s.DeliveredQoS0, s.LostQoS0, s.Dropped, s.Unsent, got, s.Generated)
	}
	if s.Queued != 0 || s.Inflight != 0 || s.Connected != 0 {
		t.Errorf("gauges not back to zero: queued %d inflight %d connected %d", s.Queued, s.Inflight, s.Connected)
	}
	acks.mu.Lock()
	defer acks.mu.Unlock()
	if uint64(len(acks.acks)) != s.Acked {
		t.Errorf("OnAck saw %d distinct messages, Acked = %d", len(acks.acks), s.Acked)
	}
	missing := 0
	for k, n := range acks.acks {
		if n != 1 {
			t.Errorf("%v acknowledged %d times", k, n)
		}
		if !b.has(k) {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d acknowledged messages never reached the broker", missing)
	}
	b.checkOrder(t)
}

func TestSteadyFleetEveryAckArrived(t *testing.T) {
	b := startBroker(t, nil, 0)
	for _, format := range []string{FormatJSON, FormatCBOR, FormatBinary} {
		t.Run(format, func(t *testing.T) {
			acks := newAckLog()
			rep := runFleet(t, Config{Broker: b.url, Devices: 5, Rate: 50, Duration: time.Second, QoS: 1,
				StreamQoS: map[string]byte{StreamLog: 0, StreamGPS: 2}, Format: format,
				IDPrefix: format + "-", OnAck: acks.onAck, Seed: 7})
			if rep.Generated == 0 || rep.Acked == 0 || rep.DeliveredQoS0 == 0 || rep.Unsent != 0 || rep.Dropped != 0 || rep.Failed != 0 {
				t.Errorf("steady run: %+v", rep.Stats)
			}
			checkAccounting(t, rep, b, acks)
		})
	}
}

func TestChaosFleetLosesNothingAcknowledged(t *testing.T) {
	b := startBroker(t, nil, 0)
	acks := newAckLog()
	rep := runFleet(t, Config{Broker: b.url, Devices: 20, Rate: 40, Duration: 4 * time.Second, QoS: 1,
		Chaos: true, ChaosInterval: 500 * time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Inflight: 8, OnAck: acks.onAck, Seed: 11})
	if rep.ChaosKills == 0 || rep.Reconnects == 0 {
		t.Errorf("chaos did nothing: %+v", rep.Stats)
	}
	if rep.Unsent != 0 {
		t.Errorf("%d messages left undelivered after the drain", rep.Unsent)
	}
	checkAccounting(t, rep, b, acks)
	t.Logf("generated %d acked %d failed %d kills %d reconnects %d", rep.Generated, rep.Acked, rep.Failed, rep.ChaosKills, rep.Reconnects)
}

func TestSleepyDevicesQueueAndBurst(t *testing.T) {
	b := startBroker(t, nil, 0)
	acks := newAckLog()
	rep := runFleet(t, Config{Broker: b.url, Devices: 4, Rate: 20, Duration: 3 * time.Second, QoS: 1,
		Wake: 500 * time.Millisecond, Sleep: 700 * time.Millisecond, QueueSize: 10, DropPolicy: DropOldest,
		OnAck: acks.onAck, Seed: 3})
	if rep.Sleeps == 0 {
		t.Fatalf("no device slept: %+v", rep.Stats)
	}
	if rep.Dropped == 0 {
		t.Errorf("a 10-message queue over 700ms sleeps at 20 msgs/s dropped nothing: %+v", rep.Stats)
	}
	checkAccounting(t, rep, b, acks)
}

func TestUnreachableBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, Config{Broker: "tcp://127.0.0.1:1", Devices: 2, Rate: 10, Duration: 500 * time.Millisecond, QoS: 1,
		QueueSize: 3, DrainTimeout: 200 * time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	if !errors.Is(err, ErrNoConnection) {
		t.Fatalf("err = %v", err)
	}
	if rep.ConnectFailures == 0 || rep.Dropped == 0 || rep.Unsent == 0 || rep.Acked != 0 {
		t.Errorf("report: %+v", rep.Stats)
	}
}

func TestBadActorsAreRefusedByARegistry(t *testing.T) {
	creds, devs, err := Provision(ProvisionOptions{Devices: 2, BadActors: 4, Cost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := devices.OpenDocument(t.TempDir() + "/reg.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if err := doc.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	data, err := doc.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := devices.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, reg, 64<<10)
	acks := newAckLog()
	rep := runFleet(t, Config{Broker: b.url, Profile: "hostile", Devices: 2, Rate: 10, Duration: 3 * time.Second, QoS: 1,
		Credentials: creds, BadInterval: 300 * time.Millisecond, RefuseTimeout: time.Second, OversizeBytes: 100 << 10,
		OnAck: acks.onAck, Seed: 5})
	for _, kind := range AllBadKinds() {
		s := rep.Bad[kind]
		if s.Attempts == 0 || s.Refused == 0 || s.Accepted != 0 {
			t.Errorf("%s: %+v", kind, s)
		}
	}
	if rep.Acked == 0 {
		t.Errorf("the good devices got nothing through: %+v", rep.Stats)
	}
	checkAccounting(t, rep, b, acks)
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := map[string]Config{
		"broker":      {Broker: "localhost:1883"},
		"profile":     {Broker: "tcp://h:1", Profile: "nope"},
		"format":      {Broker: "tcp://h:1", Format: "xml"},
		"qos":         {Broker: "tcp://h:1", QoS: 3},
		"drop-policy": {Broker: "tcp://h:1", DropPolicy: "random"},
		"streams":     {Broker: "tcp://h:1", Streams: []string{"video"}},
		"credentials": {Broker: "tcp://h:1", Devices: 3, Credentials: []Credential{{ID: "a"}}},
		"bad-kinds":   {Broker: "tcp://h:1", BadKinds: []string{"ddos"}},
	}
	for field, cfg := range cases {
		_, err := New(cfg)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), field+":") {
			t.Errorf("%s: %v", field, err)
		}
	}
}

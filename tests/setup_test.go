package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/testkit"
)

// soak is the long mode (EDGELOG_SOAK=1).
var soak = os.Getenv("EDGELOG_SOAK") == "1"

// pick returns short in the CI mode and long in soak mode.
func pick[T any](short, long T) T {
	if soak {
		return long
	}
	return short
}

// envInt reads a positive integer override, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// newRand returns the test's random source, seeded from EDGELOG_SEED or
// the clock; the seed is logged so a failing run can be repeated.
func newRand(t testing.TB) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("EDGELOG_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (EDGELOG_SEED=%d repeats the random choices)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x5eed))
}

// between is a uniformly random duration in [lo, hi).
func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}

// fleet is a set of test devices on one agent.
type fleet struct {
	t    testing.TB
	devs []*testkit.Device

	mu     sync.Mutex // protects cancel
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newFleet connects n devices named prefix-NN to broker. Unless o.Topic
// is set they publish to prefix/<id>/seq, so their hub topic is prefix.
func newFleet(t testing.TB, broker, prefix string, n int, o testkit.DeviceOptions) *fleet {
	t.Helper()
	f := &fleet{t: t}
	for i := range n {
		id := fmt.Sprintf("%s-%02d", prefix, i)
		do := o
		if do.Topic == "" {
			do.Topic = prefix + "/" + id + "/seq"
		}
		f.devs = append(f.devs, testkit.NewDevice(t, broker, id, do))
	}
	t.Cleanup(f.stop)
	return f
}

// run makes every device publish continuously in the background, device i
// at qos[i % len(qos)], until stop.
func (f *fleet) run(qos ...byte) {
	ctx, cancel := context.WithCancel(context.Background())
	f.mu.Lock()
	f.cancel = cancel
	f.mu.Unlock()
	for i, d := range f.devs {
		q := qos[i%len(qos)]
		f.wg.Go(func() { d.Run(ctx, q, 25) })
	}
}

// stop ends run and waits for every publish in flight to be answered or
// to fail.
func (f *fleet) stop() {
	f.mu.Lock()
	cancel := f.cancel
	f.cancel = nil
	f.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	f.wg.Wait()
}

// publish makes every device send n messages at qos and waits; it returns
// how many were not acknowledged.
func (f *fleet) publish(ctx context.Context, n int, qos byte) int {
	before := f.failed()
	var wg sync.WaitGroup
	for _, d := range f.devs {
		wg.Go(func() { d.Publish(ctx, n, qos) })
	}
	wg.Wait()
	return f.failed() - before
}

// sent is how many publishes the fleet has attempted.
func (f *fleet) sent() int {
	n := 0
	for _, d := range f.devs {
		n += d.Sent()
	}
	return n
}

func (f *fleet) failed() int {
	n := 0
	for _, d := range f.devs {
		n += d.Failed()
	}
	return n
}

// acked is every device's acknowledged counters.
func (f *fleet) acked() map[string][]int {
	m := map[string][]int{}
	for _, d := range f.devs {
		m[d.ID] = d.Acked()
	}
	return m
}

func (f *fleet) ackedTotal() int {
	n := 0
	for _, d := range f.devs {
		n += len(d.Acked())
	}
	return n
}

// waitAcked waits until the fleet has had at least n publishes acknowledged
// in all.
func (f *fleet) waitAcked(n int) {
	f.t.Helper()
	if err := testkit.Eventually(context.Background(), 3*time.Minute, func() bool { return f.ackedTotal() >= n }); err != nil {
		f.t.Fatalf("waiting for %d acknowledged publishes (have %d): %v", n, f.ackedTotal(), err)
	}
}

// keepsWorking checks that the agent still takes publishes: every device
// publishes n more at qos and every one is acknowledged.
func (f *fleet) keepsWorking(n int, qos byte) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if failed := f.publish(ctx, n, qos); failed > 0 {
		f.t.Fatalf("after the scenario %d of %d publishes were not acknowledged", failed, n*len(f.devs))
	}
}

// expectExactlyOnce reads topic at the hub until every acknowledged
// publish is there, then checks the promises: nothing acknowledged missing,
// nothing stored twice, per-device order in one partition.
func expectExactlyOnce(t testing.TB, kafkaAddr, topic string, acked map[string][]int) []testkit.HubRecord {
	t.Helper()
	return expectDelivered(t, kafkaAddr, topic, acked, true)
}

// expectDelivered is expectExactlyOnce; with sendOrder false the devices'
// own send order is not checked (a client that resends after reconnecting
// may send new messages before its resends), only the agent's receive
// order of each device at the hub.
func expectDelivered(t testing.TB, kafkaAddr, topic string, acked map[string][]int, sendOrder bool) []testkit.HubRecord {
	t.Helper()
	// Wait for sync to deliver, then read everything up to the end
	// offsets, so a duplicate stored after the last acknowledged record
	// is seen too.
	var got []testkit.HubRecord
	var err error
	deadline := time.Now().Add(3 * time.Minute)
	for {
		got, err = testkit.ReadAll(context.Background(), kafkaAddr, topic, time.Minute)
		if err == nil && len(testkit.CheckDelivery(acked, got).Missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	d := testkit.CheckDelivery(acked, got)
	if !sendOrder {
		d.OutOfOrder = nil
	}
	bad := testkit.CheckAgentSeqs(got)
	if err != nil || !d.OK() || len(bad) > 0 {
		t.Errorf("delivery: %s (read error: %v)", d, err)
		if len(bad) > 0 {
			t.Errorf("hub records: %d problems, first: %v", len(bad), bad[:min(len(bad), 10)])
		}
		t.Fatalf("records of the first problems:\n%s", describe(got, append(d.Duplicated, d.OutOfOrder...), 5))
	}
	t.Logf("delivery: %s", d)
	return got
}

// healthy checks that every process answers /readyz.
func healthy(t testing.TB, httpAddrs ...string) {
	t.Helper()
	for _, a := range httpAddrs {
		if !testkit.Ready(a) {
			t.Fatalf("%s/readyz does not answer 200 after the scenario", a)
		}
	}
}

// describe lists the hub records of the first n messages named in problems
// ("dev#counter ...").
func describe(got []testkit.HubRecord, problems []string, n int) string {
	var b strings.Builder
	for _, p := range problems[:min(n, len(problems))] {
		name, _, _ := strings.Cut(p, " ")
		for _, r := range got {
			id, c, ok := testkit.ParsePayload(r.Value)
			if ok && fmt.Sprintf("%s#%d", id, c) == name {
				fmt.Fprintf(&b, "  %s at %d/%d: agent.seq %s, epoch %s, time %s\n", name, r.Partition, r.Offset,
					r.Headers["agent.seq"], r.Headers["agent.epoch"], r.Timestamp.Format("15:04:05.000"))
			}
		}
	}
	return b.String()
}

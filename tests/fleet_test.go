package tests

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/testkit"
)

// fleetSim runs internal/testkit/fleetsim: hundreds of agents (each its own
// WAL, appended to every second, and the agent's shipper) in one process.
type fleetSim struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu      sync.Mutex  // protects everything below
	ups     []time.Time // per agent: the last session start reported
	count   []int       // per agent: sessions started
	durable map[string]uint64
	done    chan struct{} // closed with the drained report
}

func startFleetSim(t *testing.T, hub *testkit.Hub, n int) *fleetSim {
	t.Helper()
	cmd := exec.Command(testkit.Tool(t, "./internal/testkit/fleetsim"), "--hub", hub.SyncAddr, "--hub-data", hub.Dir,
		"--dir", t.TempDir(), "--agents", strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f := &fleetSim{cmd: cmd, stdin: stdin, ups: make([]time.Time, n), count: make([]int, n), done: make(chan struct{})}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var ev struct {
				Up      *int              `json:"up"`
				Ms      int64             `json:"ms"`
				Drained bool              `json:"drained"`
				Durable map[string]uint64 `json:"durable"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			f.mu.Lock()
			if ev.Up != nil && *ev.Up < n {
				f.ups[*ev.Up] = time.UnixMilli(ev.Ms)
				f.count[*ev.Up]++
			}
			if ev.Drained {
				f.durable = ev.Durable
				close(f.done)
			}
			f.mu.Unlock()
		}
	}()
	return f
}

// sessions returns how many sessions each agent has started so far.
func (f *fleetSim) sessions() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.count)
}

// TestHubRestartUnderFleet connects hundreds of agents to a hub process,
// SIGKILLs and restarts the hub under them, and measures how they come
// back: with jittered backoff, spread over time rather than in one burst;
// then every record of every agent must be at the hub exactly once.
// EDGELOG_FLEET_AGENTS overrides the number of agents (500).
func TestHubRestartUnderFleet(t *testing.T) {
	n := envInt("EDGELOG_FLEET_AGENTS", 500)
	hub := testkit.StartHub(t, testkit.HubOptions{})
	start := time.Now()
	f := startFleetSim(t, hub, n)
	all := func(what string, base []int) {
		t.Helper()
		if err := testkit.Eventually(t.Context(), 5*time.Minute, func() bool {
			for i, c := range f.sessions() {
				if c <= base[i] {
					return false
				}
			}
			return true
		}); err != nil {
			c := 0
			for i, s := range f.sessions() {
				if s > base[i] {
					c++
				}
			}
			t.Fatalf("%s: %d of %d agents: %v", what, c, n, err)
		}
	}
	all("connecting", make([]int, n))
	t.Logf("%d agents connected in %v", n, time.Since(start).Round(time.Millisecond))
	time.Sleep(pick(3*time.Second, 60*time.Second))

	base := f.sessions()
	hub.Kill()
	hub.RestartReady()
	ready := time.Now()
	all("reconnecting after the hub restart", base)
	f.mu.Lock()
	back := make([]time.Duration, n)
	for i, up := range f.ups {
		back[i] = up.Sub(ready)
	}
	f.mu.Unlock()
	slices.Sort(back)
	q := func(p float64) time.Duration { return back[int(p*float64(n-1))].Round(time.Millisecond) }
	t.Logf("reconnect spread, from the restarted hub's readiness: first %v, median %v, p90 %v, last %v", q(0), q(0.5), q(0.9), q(1))
	if n >= 10 && back[n-1]-back[0] < 100*time.Millisecond {
		t.Errorf("all %d agents came back within %v: no jitter in their backoff", n, back[n-1]-back[0])
	}
	time.Sleep(pick(3*time.Second, 60*time.Second))

	if _, err := io.WriteString(f.stdin, "stop\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.done:
	case <-time.After(5 * time.Minute):
		t.Fatal("the fleet did not drain")
	}
	got, err := testkit.ReadAll(t.Context(), hub.KafkaAddr, "fleet", 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if bad := testkit.CheckAgentSeqs(got); len(bad) > 0 {
		t.Fatalf("hub records: %d problems, first %v", len(bad), bad[:min(10, len(bad))])
	}
	perAgent := map[string]uint64{}
	for _, r := range got {
		perAgent[r.Headers["agent.id"]]++
	}
	var total uint64
	for id, want := range f.durable {
		total += want
		if perAgent[id] != want {
			t.Errorf("agent %s: %d records at the hub, %d appended", id, perAgent[id], want)
		}
	}
	healthy(t, hub.HTTPAddr)
	t.Logf("%d records from %d agents at the hub exactly once", total, n)
}

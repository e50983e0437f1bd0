package shipper

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/internal/pki"
	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/wal"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// procStats reads a process's resident memory (bytes) and CPU time.
func procStats(pid int) (rss int64, cpu time.Duration) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, ln := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(ln, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				rss = kb << 10
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 12 {
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ
		}
	}
	return rss, cpu
}

// BenchmarkSoakAgents runs many agents (in this process, each with its own
// WAL and QUIC connection) against one hub in a child process for a few
// minutes, restarts the hub halfway, and reports the hub's memory and CPU,
// how the agents came back, and checks every record arrived exactly once.
//
//	EDGELOG_SOAK_AGENTS=1000 EDGELOG_SOAK_SECONDS=180 EDGELOG_SOAK_RATE=1 \
//	  go test -run '^$' -bench SoakAgents -benchtime 1x -timeout 30m ./agent/shipper/
func BenchmarkSoakAgents(b *testing.B) {
	n := envInt("EDGELOG_SOAK_AGENTS", 1000)
	dur := time.Duration(envInt("EDGELOG_SOAK_SECONDS", 180)) * time.Second
	rate := envInt("EDGELOG_SOAK_RATE", 1) // records per second per agent
	for range b.N {
		soak(b, n, dur, rate)
	}
}

func soak(b *testing.B, n int, dur time.Duration, rate int) {
	root := b.TempDir()
	hubDir := filepath.Join(root, "hub")
	ca, err := pki.LoadOrCreate(hubDir)
	if err != nil {
		b.Fatal(err)
	}
	addr := freeUDPAddr(b)
	startHubChild := func() *child {
		c := startChild(b, crashRoleEnv+"=hub", crashDirEnv+"="+hubDir, crashAddrEnv+"="+addr)
		c.await(b, "ready", 60*time.Second, nil)
		return c
	}
	hubC := startHubChild()
	defer func() { hubC.kill() }()

	type agentRun struct {
		log  *wal.Log
		s    *Shipper
		id   string
		last atomic.Uint64
	}
	agents := make([]*agentRun, n)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	startAll := time.Now()
	for i := range agents {
		id := fmt.Sprintf("gw-%04d", i)
		pem, err := ca.MintAgent(id, 0)
		if err != nil {
			b.Fatal(err)
		}
		bundle, err := pki.ParseBundle(pem)
		if err != nil {
			b.Fatal(err)
		}
		l, err := wal.Open(filepath.Join(root, id), wal.Options{Fsync: wal.FsyncInterval, SegmentSize: 64 << 10, Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		s, err := New(l, func(seq uint64) error { return l.TruncateFront(seq + 1) }, Config{Hub: addr, Credentials: bundle, Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		a := &agentRun{log: l, s: s, id: id}
		agents[i] = a
		wg.Go(func() { _ = s.Run(ctx) })
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			// Spread the agents' ticks over the interval.
			select {
			case <-time.After(time.Duration(rng.Int64N(int64(time.Second)))):
			case <-ctx.Done():
				return
			}
			tk := time.NewTicker(time.Second / time.Duration(rate))
			defer tk.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tk.C:
				}
				seq := l.Next()
				r := record.Record{TimeMs: time.Now().UnixMilli(), ClientID: id + "-sensor", Topic: "telemetry/" + id,
					QoS: 1, Payload: []byte(payloadFor(seq))}
				enc, _ := record.Encode(&r)
				if got, err := l.Append(ctx, enc); err == nil {
					a.last.Store(got)
				}
			}
		})
	}
	// established counts the agents with a session established after
	// their session count was base (nil: any session).
	established := func(base []uint64) int {
		c := 0
		for i, a := range agents {
			if n := a.s.sessions.Load(); n > 0 && (base == nil || n > base[i]) && a.s.SyncStatus().Connected {
				c++
			}
		}
		return c
	}
	waitConnected := func(what string, start time.Time, base []uint64) time.Duration {
		for established(base) < n {
			if time.Since(start) > 10*time.Minute {
				b.Fatalf("%s: only %d of %d agents connected after 10 minutes", what, established(base), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}
	connectAll := waitConnected("start", startAll, nil)

	pid := hubC.cmd.Process.Pid
	_, cpu0 := procStats(pid)
	t0 := time.Now()
	var peakRSS int64
	sample := func(until time.Time) {
		for time.Now().Before(until) {
			if rss, _ := procStats(pid); rss > peakRSS {
				peakRSS = rss
			}
			time.Sleep(time.Second)
		}
	}
	sample(t0.Add(dur / 2))
	rss1, cpu1 := procStats(pid)
	cpuFirst := float64(cpu1-cpu0) / float64(time.Since(t0)) * 100

	// Restart the hub under all agents: how do they come back?
	base := make([]uint64, n)
	for i, a := range agents {
		base[i] = a.s.sessions.Load()
	}
	hubC.kill()
	restart := time.Now()
	hubC = startHubChild()
	reconnect := waitConnected("restart", restart, base)
	pid = hubC.cmd.Process.Pid
	_, cpu2 := procStats(pid)
	t2 := time.Now()
	sample(t0.Add(dur))
	rss3, cpu3 := procStats(pid)
	cpuSecond := float64(cpu3-cpu2) / float64(time.Since(t2)) * 100

	// Stop appending, wait for every agent to be fully acknowledged.
	cancelAppend := cancel
	lasts := make([]uint64, n)
	for i, a := range agents {
		lasts[i] = a.log.Durable()
	}
	deadline := time.Now().Add(5 * time.Minute)
	for i, a := range agents {
		for a.s.Acked() < lasts[i] {
			if time.Now().After(deadline) {
				b.Fatalf("agent %s acked %d of %d", a.id, a.s.Acked(), lasts[i])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	cancelAppend()
	wg.Wait()
	var total uint64
	epochs := make([]string, n)
	for i, a := range agents {
		total += a.log.Durable()
		epochs[i] = a.log.Epoch()
		a.log.Close()
	}
	hubC.kill()

	broker, err := hub.Open(hub.Config{Dir: hubDir, Partitions: 4, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer broker.Close()
	h := &testHub{t: b, broker: broker}
	recs := h.records()
	byAgent := map[string][]hubRecord{}
	for _, r := range recs {
		byAgent[r.agent] = append(byAgent[r.agent], r)
	}
	for i, a := range agents {
		checkExactlyOnce(b, byAgent[a.id], a.id, epochs[i], lasts[i])
	}
	b.ReportMetric(float64(peakRSS)/(1<<20), "hub-peak-RSS-MiB")
	b.ReportMetric(float64(rss3)/(1<<20), "hub-final-RSS-MiB")
	b.ReportMetric(cpuFirst, "hub-CPU-%-first-half")
	b.ReportMetric(cpuSecond, "hub-CPU-%-second-half")
	b.ReportMetric(connectAll.Seconds(), "s-to-connect-all")
	b.ReportMetric(reconnect.Seconds(), "s-to-reconnect-all")
	b.ReportMetric(float64(total), "records")
	b.Logf("%d agents × %d rec/s for %v: hub RSS %d MiB at half time, peak %d MiB, final %d MiB; hub CPU %.1f%% / %.1f%%; all connected in %v, back after a hub restart in %v; %d records exactly once",
		n, rate, dur, rss1>>20, peakRSS>>20, rss3>>20, cpuFirst, cpuSecond, connectAll.Round(time.Millisecond), reconnect.Round(time.Millisecond), total)
}

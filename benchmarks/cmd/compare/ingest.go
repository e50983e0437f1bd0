package main

import (
	"context"
	"fmt"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/loadgen"
	"github.com/edgelog/edgelog/benchmarks/internal/stats"
)

// ingestRun is one round of one system under one load.
type ingestRun struct {
	Rate    float64        `json:"msgs_per_sec"`
	Acked   int            `json:"acked"`
	Latency latencySummary `json:"publish_to_ack"`
	PeakKiB int64          `json:"peak_rss_kib"`
	Fsyncs  int64          `json:"fsyncs,omitempty"`
	Load1   float64        `json:"loadavg_1m"`
	CDF     cdfPoints      `json:"cdf"`
}

// ingestCell is every round of one system under one load.
type ingestCell struct {
	Load   string      `json:"load"`
	Kind   string      `json:"kind"`
	Rounds []ingestRun `json:"rounds"`
}

// Median is the round with the median rate.
func (c ingestCell) Median() ingestRun {
	return stats.MedianBy(c.Rounds, func(r ingestRun) float64 { return r.Rate })
}

type ingestResult struct {
	Cells []ingestCell `json:"cells"`
}

func ingestLoads(quick bool) []loadgen.Load {
	if quick {
		return []loadgen.Load{{Clients: 10, PerClient: 2000, Inflight: 100, Size: 200}}
	}
	return []loadgen.Load{{Clients: 10, PerClient: 20000, Inflight: 100, Size: 200}, {Clients: 100, PerClient: 2000, Inflight: 100, Size: 200}}
}

func loadName(l loadgen.Load) string {
	return fmt.Sprintf("%d clients × %s", l.Clients, stats.Thousands(int64(l.PerClient)))
}

// runIngest measures QoS 1 ingest: every system fresh for every run, the
// systems interleaved within each round so that drifting machine load
// touches all alike.
func runIngest(ctx context.Context, e *env) (*ingestResult, error) {
	res := &ingestResult{}
	for r := 1; r <= e.rounds; r++ {
		for _, l := range ingestLoads(e.quick) {
			for _, kind := range e.kinds() {
				run, err := ingestOnce(ctx, e, kind, l)
				if err != nil {
					return nil, fmt.Errorf("ingest %s, %s, round %d: %w", kind, loadName(l), r, err)
				}
				e.logf("ingest round %d %-9s %-20s %8.0f msg/s p50 %.1f ms p99 %.1f ms peak %s", r, kind, loadName(l),
					run.Rate, run.Latency.P50, run.Latency.P99, stats.MiB(run.PeakKiB))
				c := cellFor(&res.Cells, func(c ingestCell) bool { return c.Load == loadName(l) && c.Kind == kind },
					func() ingestCell { return ingestCell{Load: loadName(l), Kind: kind} })
				c.Rounds = append(c.Rounds, run)
			}
		}
	}
	return res, nil
}

func ingestOnce(ctx context.Context, e *env, kind string, l loadgen.Load) (ingestRun, error) {
	s, err := e.startFresh(ctx, kind, options{})
	if err != nil {
		return ingestRun{}, err
	}
	defer s.Remove()
	var before float64
	if kind == kindEdgelog {
		before, _ = s.Metric(ctx, "edgelog_agent_wal_fsync_seconds_count")
	}
	load1 := stats.LoadAvg()
	lctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	lr, err := l.Run(lctx, s.MQTTAddr)
	if err != nil {
		return ingestRun{}, err
	}
	if lr.Errors > 0 {
		return ingestRun{}, fmt.Errorf("%d clients failed: %w", lr.Errors, lr.FirstErr)
	}
	run := ingestRun{Rate: lr.Rate(), Acked: lr.Acked, Latency: summarize(lr.Latencies), Load1: load1}
	run.CDF = makeCDF(lr.Latencies) // sorted by summarize
	if m, err := s.Memory(); err == nil {
		run.PeakKiB = m.Peak
	}
	if kind == kindEdgelog {
		after, _ := s.Metric(ctx, "edgelog_agent_wal_fsync_seconds_count")
		run.Fsyncs = int64(after - before)
	}
	if err := s.Stop(30 * time.Second); err != nil {
		return run, err
	}
	return run, nil
}

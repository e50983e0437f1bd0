package main

import (
	"context"
	"fmt"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/loadgen"
	"github.com/edgelog/edgelog/benchmarks/internal/stats"
	"github.com/edgelog/edgelog/benchmarks/internal/sut"
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

// ingestLoad is a load, and whether a durable subscriber's session (away
// during the run) makes Mosquitto and NATS keep every message, as the
// edgelog agent always does in its WAL. Without one, Mosquitto discards
// messages nobody subscribed to, and NATS stores QoS 1 messages in
// JetStream only for sessions that match them.
type ingestLoad struct {
	loadgen.Load
	durable bool
}

func (l ingestLoad) name() string {
	n := fmt.Sprintf("%d clients × %s", l.Clients, stats.Thousands(int64(l.PerClient)))
	if l.durable {
		n += ", durable subscriber away"
	}
	return n
}

func ingestLoads(quick bool) []ingestLoad {
	if quick {
		return []ingestLoad{{loadgen.Load{Clients: 10, PerClient: 2000, Inflight: 100, Size: 200}, false},
			{loadgen.Load{Clients: 10, PerClient: 2000, Inflight: 100, Size: 200}, true}}
	}
	return []ingestLoad{
		{loadgen.Load{Clients: 10, PerClient: 20000, Inflight: 100, Size: 200}, false},
		{loadgen.Load{Clients: 100, PerClient: 2000, Inflight: 100, Size: 200}, false},
		{loadgen.Load{Clients: 10, PerClient: 20000, Inflight: 100, Size: 200}, true},
	}
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
					return nil, fmt.Errorf("ingest %s, %s, round %d: %w", kind, l.name(), r, err)
				}
				e.logf("ingest round %d %-9s %-20s %8.0f msg/s p50 %.1f ms p99 %.1f ms peak %s", r, kind, l.name(),
					run.Rate, run.Latency.P50, run.Latency.P99, stats.MiB(run.PeakKiB))
				c := cellFor(&res.Cells, func(c ingestCell) bool { return c.Load == l.name() && c.Kind == kind },
					func() ingestCell { return ingestCell{Load: l.name(), Kind: kind} })
				c.Rounds = append(c.Rounds, run)
			}
		}
	}
	return res, nil
}

func ingestOnce(ctx context.Context, e *env, kind string, l ingestLoad) (ingestRun, error) {
	start := e.startFresh
	if l.durable {
		start = func(ctx context.Context, kind string, o options) (*sut.System, error) {
			return e.prepareDurable(ctx, kind, o, false)
		}
	}
	s, err := start(ctx, kind, options{})
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

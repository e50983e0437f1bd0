package main

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/loadgen"
	"github.com/edgelog/edgelog/benchmarks/internal/mqttc"
	"github.com/edgelog/edgelog/benchmarks/internal/stats"
	"github.com/edgelog/edgelog/benchmarks/internal/sut"
)

// Systems of the drain scenario.
const (
	drainEdgelog = "edgelog"          // agent → hub over QUIC
	drainBridge  = "mosquitto-bridge" // Mosquitto bridged to a second Mosquitto
	drainLeaf    = "nats-leaf"        // NATS leaf node, its stream sourced by a central NATS
)

var drainName = map[string]string{
	drainEdgelog: "edgelog agent → hub",
	drainBridge:  "Mosquitto → bridge → Mosquitto",
	drainLeaf:    "NATS leaf → NATS",
}

// drainRun is one outage: a backlog accumulated with the upstream down,
// then drained while live traffic continues.
type drainRun struct {
	Backlog    int     `json:"backlog"`     // messages acknowledged during the outage
	WALBytes   int64   `json:"wal_bytes"`   // edgelog: WAL size with the backlog
	FillRate   float64 `json:"fill_rate"`   // msg/s while accumulating
	ConnectS   float64 `json:"connect_s"`   // upstream start → link up (first upstream ack / first message)
	DrainS     float64 `json:"drain_s"`     // link up → whole backlog upstream
	Rate       float64 `json:"rate"`        // backlog / DrainS
	LiveRate   int     `json:"live_rate"`   // msg/s of live traffic during the drain
	LiveSent   int     `json:"live_sent"`   // live messages acknowledged during the drain
	LiveCaught bool    `json:"live_caught"` // every live message upstream too, 30 s after the drain at most
	Complete   bool    `json:"complete"`    // whole backlog upstream within the time limit
	Load1      float64 `json:"loadavg_1m"`
}

type drainCell struct {
	System string     `json:"system"`
	Rounds []drainRun `json:"rounds"`
}

// Median is the round with the median drain rate.
func (c drainCell) Median() drainRun {
	return stats.MedianBy(c.Rounds, func(r drainRun) float64 { return r.Rate })
}

type drainResult struct {
	Size  int         `json:"size"`
	Cells []drainCell `json:"cells"`
}

const (
	drainLiveRate = 2000 // msg/s of live traffic while draining
	liveClient    = 500  // index of the live publishers' first client
	drainLimit    = 10 * time.Minute
)

func runDrain(ctx context.Context, e *env) (*drainResult, error) {
	l := loadgen.Load{Clients: 10, PerClient: 100000, Inflight: 100, Size: 200}
	if e.quick {
		l.PerClient = 5000
	}
	res := &drainResult{Size: l.Size}
	systems := []string{drainEdgelog}
	if e.missing[kindMosquitto] == "" {
		systems = append(systems, drainBridge)
	}
	if e.missing[kindNATS] == "" {
		systems = append(systems, drainLeaf)
	}
	for _, s := range systems {
		res.Cells = append(res.Cells, drainCell{System: s})
	}
	for r := 1; r <= e.rounds; r++ {
		for i, sys := range systems {
			var run drainRun
			var err error
			switch sys {
			case drainEdgelog:
				run, err = drainEdgelogOnce(ctx, e, l)
			case drainBridge:
				run, err = drainBridgeOnce(ctx, e, l)
			default:
				run, err = drainNATSOnce(ctx, e, l)
			}
			if err != nil {
				return nil, fmt.Errorf("drain %s, round %d: %w", sys, r, err)
			}
			e.logf("drain round %d %-16s backlog %d (%.0f msg/s in), link up after %.1f s, drained in %.2f s = %.0f msg/s; live %d sent, caught up %v; complete %v",
				r, sys, run.Backlog, run.FillRate, run.ConnectS, run.DrainS, run.Rate, run.LiveSent, run.LiveCaught, run.Complete)
			res.Cells[i].Rounds = append(res.Cells[i].Rounds, run)
		}
	}
	return res, nil
}

// live publishes paced traffic from 2 clients until stopped.
type live struct {
	stop  context.CancelFunc
	done  chan struct{}
	acked atomic.Int64
}

func startLive(ctx context.Context, addr string, size int) *live {
	lctx, stop := context.WithCancel(ctx)
	lv := &live{stop: stop, done: make(chan struct{})}
	l := loadgen.Load{Clients: 2, PerClient: 1 << 30, Inflight: 100, Size: size, ClientBase: liveClient, Topic: "bench",
		OnAck: func(int, int, time.Time, time.Time) { lv.acked.Add(1) }, Interval: time.Second * 2 / drainLiveRate}
	go func() {
		defer close(lv.done)
		_, _ = l.Run(lctx, addr)
	}()
	return lv
}

func (lv *live) finish() int {
	lv.stop()
	<-lv.done
	return int(lv.acked.Load())
}

// fill publishes the backlog to addr (the upstream is down) and records
// its size and rate.
func (run *drainRun) fill(ctx context.Context, l loadgen.Load, addr string) error {
	lr, err := l.Run(ctx, addr)
	if err != nil {
		return err
	}
	if lr.Errors > 0 {
		return lr.FirstErr
	}
	run.Backlog, run.FillRate = lr.Acked, lr.Rate()
	return nil
}

// timeDrain polls every 20 ms from start, the upstream's start, until
// drained reports the whole backlog upstream or drainLimit has passed,
// noting when linked first reports the link up; then it stops the live
// traffic and records the timings and the rate.
func (run *drainRun) timeDrain(ctx context.Context, start time.Time, lv *live, linked, drained func() bool) {
	var up time.Time
	deadline := start.Add(drainLimit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if up.IsZero() && linked() {
			up = time.Now()
		}
		if drained() {
			run.Complete = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	done := time.Now()
	run.LiveSent = lv.finish()
	if up.IsZero() {
		up = done
	}
	run.ConnectS, run.DrainS = up.Sub(start).Seconds(), done.Sub(up).Seconds()
	run.Rate = float64(run.Backlog) / run.DrainS
}

func drainEdgelogOnce(ctx context.Context, e *env, l loadgen.Load) (drainRun, error) {
	run := drainRun{LiveRate: drainLiveRate}
	p, err := startPipeline(ctx, e, true)
	if err != nil {
		return run, err
	}
	defer p.remove()
	if err := run.fill(ctx, l, p.agent.MQTTAddr); err != nil {
		return run, err
	}
	next, err := p.agent.Metric(ctx, "edgelog_agent_wal_next_seq")
	if err != nil {
		return run, err
	}
	backlogEnd := uint64(next) - 1
	if v, err := p.agent.Metric(ctx, "edgelog_agent_wal_size_bytes"); err == nil {
		run.WALBytes = int64(v)
	}
	run.Load1 = stats.LoadAvg()
	lv := startLive(ctx, p.agent.MQTTAddr, l.Size)
	start := time.Now()
	if err := p.startHub(ctx); err != nil {
		lv.finish()
		return run, err
	}
	run.timeDrain(ctx, start, lv, func() bool { return p.connected(ctx) }, func() bool {
		acked, err := p.hubAcked(ctx)
		return err == nil && acked >= backlogEnd
	})
	next, err = p.agent.Metric(ctx, "edgelog_agent_wal_next_seq")
	if err != nil {
		return run, err
	}
	run.LiveCaught = waitFor(ctx, 30*time.Second, func() bool {
		acked, err := p.hubAcked(ctx)
		return err == nil && acked >= uint64(next)-1
	}) == nil
	return run, nil
}

func drainBridgeOnce(ctx context.Context, e *env, l loadgen.Load) (drainRun, error) {
	run := drainRun{LiveRate: drainLiveRate}
	// The central broker's durable subscriber (the consumer) exists
	// before the outage; the central broker then stays down while the
	// edge broker accumulates.
	central, err := e.prepareDurable(ctx, kindMosquitto, options{}, true)
	if err != nil {
		return run, err
	}
	defer central.Remove()
	edge, err := e.newSystem(kindMosquitto, options{mosq: sut.MosquittoOptions{Extra: []string{
		"connection central",
		"address " + central.MQTTAddr,
		"topic bench/# out 1",
		"cleansession false",
		"remote_clientid bench-bridge",
		"restart_timeout 1",
	}}})
	if err != nil {
		return run, err
	}
	defer edge.Remove()
	if err := edge.Start(); err != nil {
		return run, err
	}
	if err := waitMQTT(ctx, edge); err != nil {
		return run, err
	}
	if err := run.fill(ctx, l, edge.MQTTAddr); err != nil {
		return run, err
	}
	run.Load1 = stats.LoadAvg()
	lv := startLive(ctx, edge.MQTTAddr, l.Size)
	start := time.Now()
	if err := central.Start(); err != nil {
		lv.finish()
		return run, err
	}
	if err := waitMQTT(ctx, central); err != nil {
		lv.finish()
		return run, err
	}
	var backlogGot, liveGot atomic.Int64
	var first atomic.Int64
	seen := newKeySet()
	sub, err := mqttc.Dial(ctx, central.MQTTAddr, mqttc.Options{ClientID: durableID, Clean: false})
	if err != nil {
		lv.finish()
		return run, err
	}
	cctx, stop := context.WithCancel(ctx)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		_ = sub.Consume(cctx, func(m mqttc.Message) {
			st, err := mqttc.ParsePayload(m.Payload)
			if err != nil || seen.has(st.Key()) {
				return
			}
			seen.addPayload(m.Payload)
			first.CompareAndSwap(0, m.At.UnixNano())
			if st.Client >= liveClient {
				liveGot.Add(1)
			} else {
				backlogGot.Add(1)
			}
		})
		sub.Close()
	}()
	run.Complete = waitFor(ctx, drainLimit, func() bool { return backlogGot.Load() >= int64(run.Backlog) }) == nil
	done := time.Now()
	run.LiveSent = lv.finish()
	run.LiveCaught = waitFor(ctx, 30*time.Second, func() bool { return liveGot.Load() >= int64(run.LiveSent) }) == nil
	stop()
	<-consumed
	up := time.Unix(0, first.Load())
	if first.Load() == 0 {
		up = done
	}
	run.ConnectS, run.DrainS = up.Sub(start).Seconds(), done.Sub(up).Seconds()
	run.Rate = float64(backlogGot.Load()) / run.DrainS
	if !run.Complete {
		return run, fmt.Errorf("bridge delivered %d of %d backlog messages in %v\n%s", backlogGot.Load(), run.Backlog, drainLimit,
			strings.TrimSpace(edge.Log(1000)))
	}
	return run, nil
}

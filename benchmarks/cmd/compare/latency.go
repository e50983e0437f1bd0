package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/loadgen"
	"github.com/edgelog/edgelog/benchmarks/internal/mqttc"
	"github.com/edgelog/edgelog/benchmarks/internal/stats"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Paths of the end-to-end latency scenario.
const (
	pathHub       = "edgelog-hub"  // MQTT → agent → QUIC → hub → Kafka consumer
	pathAgent     = "edgelog-mqtt" // MQTT → agent → MQTT subscriber on the agent
	pathMosquitto = "mosquitto"    // MQTT → Mosquitto → MQTT subscriber
	pathNATS      = "nats"         // MQTT → NATS → MQTT subscriber
)

var pathName = map[string]string{
	pathHub:       "edgelog: agent → hub → Kafka consumer (kgo)",
	pathAgent:     "edgelog agent → MQTT subscriber",
	pathMosquitto: "Mosquitto → MQTT subscriber",
	pathNATS:      "NATS → MQTT subscriber",
}

// latencyRun is one paced run over one path.
type latencyRun struct {
	Sent     int            `json:"sent"`     // acknowledged publishes
	Received int            `json:"received"` // of those, received by the consumer
	EndToEnd latencySummary `json:"end_to_end"`
	PubAck   latencySummary `json:"publish_to_ack"`
	CDF      cdfPoints      `json:"cdf"`
	Load1    float64        `json:"loadavg_1m"`
}

type latencyCell struct {
	Path   string       `json:"path"`
	Rate   int          `json:"rate"`
	Rounds []latencyRun `json:"rounds"`
}

// Median is the round with the median p99.
func (c latencyCell) Median() latencyRun {
	return stats.MedianBy(c.Rounds, func(r latencyRun) float64 { return r.EndToEnd.P99 })
}

type latencyResult struct {
	Seconds float64       `json:"seconds"`
	Size    int           `json:"size"`
	Cells   []latencyCell `json:"cells"`
}

func (e *env) latencyPaths() []string {
	out := []string{pathHub, pathAgent}
	if e.missing[kindMosquitto] == "" {
		out = append(out, pathMosquitto)
	}
	if e.missing[kindNATS] == "" {
		out = append(out, pathNATS)
	}
	return out
}

func runLatency(ctx context.Context, e *env) (*latencyResult, error) {
	res := &latencyResult{Seconds: 10, Size: 200}
	rates := []int{1000, 10000}
	if e.quick {
		res.Seconds, rates = 2, []int{1000}
	}
	for r := 1; r <= e.rounds; r++ {
		for _, rate := range rates {
			for _, path := range e.latencyPaths() {
				run, err := latencyOnce(ctx, e, path, rate, res.Seconds, res.Size)
				if err != nil {
					return nil, fmt.Errorf("latency %s at %d msg/s, round %d: %w", path, rate, r, err)
				}
				e.logf("latency round %d %-12s %6d msg/s: received %d/%d, e2e p50 %.2f ms p99 %.2f ms max %.1f ms; ack p99 %.2f ms",
					r, path, rate, run.Received, run.Sent, run.EndToEnd.P50, run.EndToEnd.P99, run.EndToEnd.Max, run.PubAck.P99)
				c := cellFor(&res.Cells, func(c latencyCell) bool { return c.Path == path && c.Rate == rate },
					func() latencyCell { return latencyCell{Path: path, Rate: rate} })
				c.Rounds = append(c.Rounds, run)
			}
		}
	}
	return res, nil
}

// consumer collects end-to-end latencies of benchmark messages.
type consumer struct {
	mu   sync.Mutex
	seen map[mqttc.Key]time.Duration // protected by mu
}

func (c *consumer) add(payload []byte, at time.Time) {
	st, err := mqttc.ParsePayload(payload)
	if err != nil {
		return
	}
	c.mu.Lock()
	if _, dup := c.seen[st.Key()]; !dup {
		c.seen[st.Key()] = at.Sub(st.Sent)
	}
	c.mu.Unlock()
}

func (c *consumer) count(minClient int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k := range c.seen {
		if k.Client >= minClient {
			n++
		}
	}
	return n
}

// warmClient offsets the measured clients' indices from the warm-up's.
const warmClient = 1000

func latencyOnce(ctx context.Context, e *env, path string, rate int, seconds float64, size int) (latencyRun, error) {
	run := latencyRun{Load1: stats.LoadAvg()}
	cons := &consumer{seen: map[mqttc.Key]time.Duration{}}
	cctx, stopConsumer := context.WithCancel(ctx)
	defer stopConsumer()
	var consumerDone chan error
	var mqttAddr string
	switch path {
	case pathHub:
		p, err := startPipeline(ctx, e, false)
		if err != nil {
			return run, err
		}
		defer p.remove()
		mqttAddr = p.agent.MQTTAddr
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.hub.KafkaAddr), kgo.ConsumeTopics("bench"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(250*time.Millisecond))
		if err != nil {
			return run, err
		}
		defer cl.Close()
		consumerDone = make(chan error, 1)
		go func() {
			for {
				fs := cl.PollFetches(cctx)
				if cctx.Err() != nil {
					consumerDone <- nil
					return
				}
				at := time.Now()
				fs.EachRecord(func(r *kgo.Record) { cons.add(r.Value, at) })
			}
		}()
	default:
		kind := map[string]string{pathAgent: kindEdgelog, pathMosquitto: kindMosquitto, pathNATS: kindNATS}[path]
		s, err := e.startFresh(ctx, kind, options{})
		if err != nil {
			return run, err
		}
		defer s.Remove()
		mqttAddr = s.MQTTAddr
		sub, err := mqttc.Dial(ctx, s.MQTTAddr, mqttc.Options{ClientID: "latency-sub", Clean: true})
		if err != nil {
			return run, err
		}
		if err := sub.Subscribe(ctx, "bench/#", 1); err != nil {
			return run, err
		}
		consumerDone = make(chan error, 1)
		go func() {
			err := sub.Consume(cctx, func(m mqttc.Message) { cons.add(m.Payload, m.At) })
			sub.Close()
			if cctx.Err() != nil {
				err = nil
			}
			consumerDone <- err
		}()
	}
	// Warm-up: until the consumer sees messages, nothing is measured (the
	// Kafka consumer learns of the topic only once it exists).
	warm := loadgen.Load{Clients: 1, PerClient: 100, Inflight: 10, Size: size, ClientBase: warmClient}
	if _, err := warm.Run(ctx, mqttAddr); err != nil {
		return run, err
	}
	if err := waitFor(ctx, 60*time.Second, func() bool { return cons.count(warmClient) >= 100 }); err != nil {
		return run, fmt.Errorf("warm-up messages never reached the consumer: %w", err)
	}
	clients := 10
	perClient := int(float64(rate) * seconds / float64(clients))
	l := loadgen.Load{Clients: clients, PerClient: perClient, Inflight: 100, Size: size,
		Interval: time.Duration(float64(time.Second) * float64(clients) / float64(rate))}
	lr, err := l.Run(ctx, mqttAddr)
	if err != nil {
		return run, err
	}
	if lr.Errors > 0 {
		return run, lr.FirstErr
	}
	run.Sent, run.PubAck = lr.Acked, summarize(lr.Latencies)
	// Wait for the stragglers, then stop the consumer.
	_ = waitFor(ctx, 30*time.Second, func() bool { return cons.count(0)-cons.count(warmClient) >= lr.Acked })
	stopConsumer()
	if err := <-consumerDone; err != nil {
		return run, fmt.Errorf("consumer: %w", err)
	}
	var lat []time.Duration
	cons.mu.Lock()
	for k, d := range cons.seen {
		if k.Client < warmClient {
			lat = append(lat, d)
		}
	}
	cons.mu.Unlock()
	run.Received = len(lat)
	run.EndToEnd = summarize(lat)
	run.CDF = makeCDF(lat)
	return run, nil
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

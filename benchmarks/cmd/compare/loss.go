package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/loadgen"
	"github.com/edgelog/edgelog/benchmarks/internal/mqttc"
	"github.com/edgelog/edgelog/benchmarks/internal/stats"
	"github.com/edgelog/edgelog/benchmarks/internal/sut"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Consumer modes of the loss scenario.
const (
	modeOffline = "offline" // the durable subscriber is away during the run: everything queues
	modeOnline  = "online"  // the durable subscriber consumes live during the run
	modeHub     = "hub"     // edgelog only: the agent replicates to a hub during the run
)

const durableID = "bench-durable"

// lossRun is one kill -9 of one system.
type lossRun struct {
	Acked        int     `json:"acked"`         // acknowledged to publishers before the kill
	Missing      int     `json:"missing"`       // acknowledged, found neither live nor after restart
	Live         int     `json:"live"`          // acknowledged ones the online subscriber got before the kill
	Recovered    int     `json:"recovered"`     // acknowledged ones found after the restart
	Unacked      int     `json:"unacked_found"` // found but never acknowledged (ack lost with the crash)
	StreamMsgs   int64   `json:"stream_msgs"`   // NATS: $MQTT_msgs right after restart (-1: n/a)
	Session      bool    `json:"session_present"`
	Duplicates   int     `json:"duplicates"`     // hub mode: records read more than once at the hub
	KillAfterS   float64 `json:"kill_after_s"`   // publishing time before the kill
	RestartAckMs float64 `json:"restart_ack_ms"` // restart → first acknowledged publish
	Load1        float64 `json:"loadavg_1m"`
}

// LostPct is the share of acknowledged messages missing.
func (r lossRun) LostPct() float64 { return 100 * float64(r.Missing) / float64(max(r.Acked, 1)) }

type lossCell struct {
	Kind   string    `json:"kind"`
	Mode   string    `json:"mode"`
	Rounds []lossRun `json:"rounds"`
}

// Median is the round with the median share lost.
func (c lossCell) Median() lossRun {
	return stats.MedianBy(c.Rounds, func(r lossRun) float64 { return r.LostPct() })
}

type lossResult struct {
	Clients   int        `json:"clients"`
	PerClient int        `json:"per_client"`
	KillAt    int        `json:"kill_at_acks"`
	Cells     []lossCell `json:"cells"`
}

func runLoss(ctx context.Context, e *env) (*lossResult, error) {
	l := loadgen.Load{Clients: 10, PerClient: 20000, Inflight: 100, Size: 200}
	if e.quick {
		l.PerClient = 2000
	}
	res := &lossResult{Clients: l.Clients, PerClient: l.PerClient, KillAt: l.Clients * l.PerClient / 2}
	for r := 1; r <= e.rounds; r++ {
		for _, mode := range []string{modeOffline, modeOnline, modeHub} {
			for _, kind := range e.kinds() {
				if mode == modeHub && kind != kindEdgelog {
					continue
				}
				run, err := lossOnce(ctx, e, kind, mode, l, res.KillAt)
				if err != nil {
					return nil, fmt.Errorf("loss %s, %s, round %d: %w", kind, mode, r, err)
				}
				e.logf("loss round %d %-9s %-7s acked %d, missing %d (%.2f%%), live %d, recovered %d, unacked found %d, stream %d, duplicates %d",
					r, kind, mode, run.Acked, run.Missing, run.LostPct(), run.Live, run.Recovered, run.Unacked, run.StreamMsgs, run.Duplicates)
				c := cellFor(&res.Cells, func(c lossCell) bool { return c.Kind == kind && c.Mode == mode },
					func() lossCell { return lossCell{Kind: kind, Mode: mode} })
				c.Rounds = append(c.Rounds, run)
			}
		}
	}
	return res, nil
}

// keySet is a set of message identities, safe for concurrent use.
type keySet struct {
	mu sync.Mutex
	m  map[mqttc.Key]bool // protected by mu
}

func newKeySet() *keySet { return &keySet{m: map[mqttc.Key]bool{}} }

func (s *keySet) addPayload(b []byte) {
	st, err := mqttc.ParsePayload(b)
	if err != nil {
		return // a probe, not a benchmark message
	}
	s.mu.Lock()
	s.m[st.Key()] = true
	s.mu.Unlock()
}

func (s *keySet) has(k mqttc.Key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[k]
}

func (s *keySet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// lossNATS is NATS's configuration for the loss scenario: unacknowledged
// deliveries are redelivered after 5 s instead of 30 s, so that draining
// the session after the restart does not stall behind messages that were
// in flight to the subscriber at the kill (a wait, not a loss).
var lossNATS = sut.NATSOptions{MQTT: []string{`ack_wait: "5s"`}}

func lossOnce(ctx context.Context, e *env, kind, mode string, l loadgen.Load, killAt int) (lossRun, error) {
	run := lossRun{StreamMsgs: -1}
	var s *sut.System
	var p *pipeline
	var err error
	if mode == modeHub {
		if p, err = startPipeline(ctx, e, false); err != nil {
			return run, err
		}
		defer p.remove()
		s = p.agent
	} else {
		// What the kill can lose is messages, not the subscription.
		if s, err = e.prepareDurable(ctx, kind, options{nats: lossNATS}, false); err != nil {
			return run, err
		}
		defer s.Remove()
	}

	live := newKeySet()
	var liveDone chan struct{}
	if mode == modeOnline {
		sub, err := mqttc.Dial(ctx, s.MQTTAddr, mqttc.Options{ClientID: durableID, Clean: kind == kindEdgelog})
		if err != nil {
			return run, err
		}
		if kind == kindEdgelog {
			if err := sub.Subscribe(ctx, "bench/#", 1); err != nil {
				return run, err
			}
		}
		liveDone = make(chan struct{})
		go func() {
			defer close(liveDone)
			_ = sub.Consume(ctx, func(m mqttc.Message) { live.addPayload(m.Payload) })
			sub.Close()
		}()
	}

	acked := make([][]int, l.Clients)
	var total atomic.Int64
	kill := make(chan struct{})
	l.OnAck = func(client, seq int, _, _ time.Time) {
		acked[client] = append(acked[client], seq)
		if total.Add(1) == int64(killAt) {
			close(kill)
		}
	}
	run.Load1 = stats.LoadAvg()
	start := time.Now()
	loadDone := make(chan error, 1)
	go func() {
		_, err := l.Run(ctx, s.MQTTAddr)
		loadDone <- err
	}()
	select {
	case <-kill:
	case err := <-loadDone:
		return run, fmt.Errorf("load ended before the kill: %v", err)
	}
	run.KillAfterS = time.Since(start).Seconds()
	if err := s.Kill(); err != nil {
		return run, err
	}
	if err := <-loadDone; err != nil {
		return run, err
	}
	if liveDone != nil {
		<-liveDone
	}

	if err := s.Start(); err != nil {
		return run, err
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	ack, _, err := s.FirstAck(actx, "probe/restart")
	cancel()
	if err != nil {
		return run, err
	}
	run.RestartAckMs = float64(ack) / 1e6
	if kind == kindNATS {
		if n, err := s.StreamMessages(ctx); err == nil {
			run.StreamMsgs = int64(n["$MQTT_msgs"])
		}
	}
	want := func(k mqttc.Key) bool { return k.Client < len(acked) }
	recovered := newKeySet()
	var ackedN int
	for _, a := range acked {
		ackedN += len(a)
	}
	complete := func() bool {
		n := 0
		for c, seqs := range acked {
			for _, q := range seqs {
				if live.has(mqttc.Key{Client: c, Seq: q}) || recovered.has(mqttc.Key{Client: c, Seq: q}) {
					n++
				}
			}
		}
		return n == ackedN
	}
	switch {
	case mode == modeHub:
		// Everything the restarted agent holds reaches the hub; then the
		// topic is read back as any Kafka consumer would.
		next, err := s.Metric(ctx, "edgelog_agent_wal_next_seq")
		if err != nil {
			return run, err
		}
		if err := waitFor(ctx, 5*time.Minute, func() bool { a, err := p.hubAcked(ctx); return err == nil && a >= uint64(next)-1 }); err != nil {
			return run, fmt.Errorf("hub never caught up with the restarted agent: %w", err)
		}
		n, err := readTopic(ctx, p.hub.KafkaAddr, "bench", recovered, complete)
		if err != nil {
			return run, err
		}
		run.Duplicates = n - recovered.len()
	case kind == kindEdgelog:
		if err := s.Stop(30 * time.Second); err != nil {
			return run, err
		}
		if err := walPayloads(ctx, e.edgelog, s.WALDir(), recovered.addPayload); err != nil {
			return run, err
		}
	default:
		run.Session, err = drainDurable(ctx, s, recovered, complete)
		if err != nil {
			return run, err
		}
	}
	ackedSet := map[mqttc.Key]bool{}
	for c, seqs := range acked {
		for _, q := range seqs {
			k := mqttc.Key{Client: c, Seq: q}
			ackedSet[k] = true
			run.Acked++
			inLive, inRec := live.has(k), recovered.has(k)
			switch {
			case inRec:
				run.Recovered++
			case inLive:
				run.Live++
			default:
				run.Missing++
			}
		}
	}
	for _, set := range []*keySet{live, recovered} {
		set.mu.Lock()
		for k := range set.m {
			if want(k) && !ackedSet[k] {
				run.Unacked++
				ackedSet[k] = true // count once
			}
		}
		set.mu.Unlock()
	}
	return run, nil
}

func waitMQTT(ctx context.Context, s *sut.System) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return s.WaitMQTT(ctx)
}

// prepareDurable makes a fresh installation of kind, creates the durable
// subscriber's session on it (edgelog: none, the WAL is what keeps
// messages), and restarts it cleanly so that the session is saved: Mosquitto
// writes its store only at autosave or exit. With stopped, it is left
// stopped instead of restarted.
func (e *env) prepareDurable(ctx context.Context, kind string, o options, stopped bool) (*sut.System, error) {
	s, err := e.startFresh(ctx, kind, o)
	if err != nil {
		return nil, err
	}
	if kind != kindEdgelog {
		err = subscribeDurable(ctx, s)
	}
	if err == nil {
		err = s.Stop(30 * time.Second)
	}
	if err == nil && !stopped {
		if err = s.Start(); err == nil {
			err = waitMQTT(ctx, s)
		}
	}
	if err != nil {
		s.Remove()
		return nil, err
	}
	return s, nil
}

// subscribeDurable creates the durable QoS 1 session on bench/# and leaves.
func subscribeDurable(ctx context.Context, s *sut.System) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := mqttc.Dial(ctx, s.MQTTAddr, mqttc.Options{ClientID: durableID, Clean: false})
	if err != nil {
		return err
	}
	if err := c.Subscribe(ctx, "bench/#", 1); err != nil {
		c.Close()
		return err
	}
	return c.Disconnect()
}

// drainDurable resumes the durable session and consumes until complete()
// or until nothing has arrived for quiet, and reports whether the broker
// still had the session.
func drainDurable(ctx context.Context, s *sut.System, into *keySet, complete func() bool) (bool, error) {
	const quiet = 8 * time.Second
	c, err := mqttc.Dial(ctx, s.MQTTAddr, mqttc.Options{ClientID: durableID, Clean: false})
	if err != nil {
		return false, err
	}
	defer c.Disconnect()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(cctx, func(m mqttc.Message) {
			into.addPayload(m.Payload)
			last.Store(m.At.UnixNano())
		})
	}()
	for {
		select {
		case err := <-done:
			if errors.Is(err, context.Canceled) {
				err = nil
			}
			return c.SessionPresent, err
		case <-time.After(250 * time.Millisecond):
		}
		if complete() || time.Since(time.Unix(0, last.Load())) > quiet {
			cancel()
		}
	}
}

// walPayloads runs `edgelog wal dump --format json` on dir and hands each
// record's payload to fn.
func walPayloads(ctx context.Context, bin, dir string, fn func([]byte)) error {
	cmd := exec.CommandContext(ctx, bin, "wal", "dump", dir, "--format", "json")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	dec := json.NewDecoder(out)
	for {
		var line struct {
			Payload string `json:"payload"`
			Error   string `json:"error"`
		}
		if err := dec.Decode(&line); err != nil {
			break
		}
		if line.Error != "" {
			_ = cmd.Wait()
			return fmt.Errorf("wal dump: %s", line.Error)
		}
		b, err := base64.StdEncoding.DecodeString(line.Payload)
		if err != nil {
			_ = cmd.Wait()
			return fmt.Errorf("wal dump payload: %w", err)
		}
		fn(b)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("wal dump %s: %w", dir, err)
	}
	return nil
}

// readTopic reads topic from the beginning through a hub's Kafka listener
// into into, until complete() or nothing new for 5 s, and returns how many
// benchmark records it read.
func readTopic(ctx context.Context, addr, topic string, into *keySet, complete func() bool) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	last, n := time.Now(), 0
	for !complete() && time.Since(last) < 5*time.Second {
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(fctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return n, err
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, err := mqttc.ParsePayload(r.Value); err == nil {
				n++
			}
			into.addPayload(r.Value)
			last = time.Now()
		})
	}
	return n, nil
}

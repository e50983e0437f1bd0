package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/mqttc"
	"github.com/edgelog/edgelog/benchmarks/internal/stats"
	"github.com/edgelog/edgelog/benchmarks/internal/sut"
)

// memoryRun is the resident set of one fresh system as idle-ish devices
// connect: each connected client publishes one 200-byte QoS 1 message
// every 10 s (keepalive 60 s).
type memoryRun struct {
	Clients []int   `json:"clients"`
	RSSKiB  []int64 `json:"rss_kib"` // median of three samples at each step
	Failed  int64   `json:"failed"`  // client publishes that failed
	Load1   float64 `json:"loadavg_1m"`
}

// PerThousandKiB is the growth per 1,000 clients from none to the most.
func (r memoryRun) PerThousandKiB() float64 {
	n := len(r.Clients) - 1
	return float64(r.RSSKiB[n]-r.RSSKiB[0]) / (float64(r.Clients[n]) / 1000)
}

type memoryCell struct {
	Kind   string      `json:"kind"`
	Rounds []memoryRun `json:"rounds"`
}

// Median is the round with the median growth per 1,000 clients.
func (c memoryCell) Median() memoryRun {
	return stats.MedianBy(c.Rounds, func(r memoryRun) float64 { return r.PerThousandKiB() })
}

type memoryResult struct {
	Steps []int        `json:"steps"`
	Cells []memoryCell `json:"cells"`
}

const memoryPeriod = 10 * time.Second

func runMemory(ctx context.Context, e *env) (*memoryResult, error) {
	res := &memoryResult{Steps: []int{0, 1000, 5000}}
	if e.quick {
		res.Steps = []int{0, 200, 500}
	}
	for _, kind := range e.kinds() {
		res.Cells = append(res.Cells, memoryCell{Kind: kind})
	}
	for r := 1; r <= e.rounds; r++ {
		for i, kind := range e.kinds() {
			run, err := memoryOnce(ctx, e, kind, res.Steps)
			if err != nil {
				return nil, fmt.Errorf("memory %s, round %d: %w", kind, r, err)
			}
			e.logf("memory round %d %-9s clients %v RSS KiB %v (%.0f KiB per 1,000), failed publishes %d",
				r, kind, run.Clients, run.RSSKiB, run.PerThousandKiB(), run.Failed)
			res.Cells[i].Rounds = append(res.Cells[i].Rounds, run)
		}
	}
	return res, nil
}

func memoryOnce(ctx context.Context, e *env, kind string, steps []int) (memoryRun, error) {
	run := memoryRun{Load1: stats.LoadAvg()}
	s, err := e.startFresh(ctx, kind, options{})
	if err != nil {
		return run, err
	}
	defer s.Remove()
	cctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	var failed atomic.Int64
	connected := 0
	for _, n := range steps {
		if err := connectIdle(cctx, s, connected, n, &wg, &failed); err != nil {
			return run, err
		}
		connected = n
		settle := 2 * time.Second
		if n > 0 {
			settle = memoryPeriod + 2*time.Second // every client has published
		}
		time.Sleep(settle)
		var samples []float64
		for range 3 {
			m, err := s.Memory()
			if err != nil {
				return run, err
			}
			samples = append(samples, float64(m.RSS))
			time.Sleep(time.Second)
		}
		run.Clients = append(run.Clients, n)
		run.RSSKiB = append(run.RSSKiB, int64(stats.Median(samples)))
	}
	run.Failed = failed.Load()
	return run, nil
}

// connectIdle connects clients from..to-1, 50 at a time, each then
// publishing every memoryPeriod (first at a random offset) until ctx ends.
func connectIdle(ctx context.Context, s *sut.System, from, to int, wg *sync.WaitGroup, failed *atomic.Int64) error {
	sem := make(chan struct{}, 50)
	errs := make(chan error, to-from)
	var dialing sync.WaitGroup
	for i := from; i < to; i++ {
		sem <- struct{}{}
		dialing.Add(1)
		go func() {
			dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			c, err := mqttc.Dial(dctx, s.MQTTAddr, mqttc.Options{ClientID: fmt.Sprintf("idle-%d", i), Clean: true, Buffer: 2048})
			cancel()
			<-sem
			dialing.Done()
			if err != nil {
				errs <- err
				return
			}
			wg.Go(func() { idleClient(ctx, c, i, failed) })
		}()
	}
	dialing.Wait()
	close(errs)
	return <-errs // nil if none failed
}

func idleClient(ctx context.Context, c *mqttc.Conn, i int, failed *atomic.Int64) {
	defer c.Close()
	wait := time.Duration(rand.Int64N(int64(memoryPeriod)))
	topic := fmt.Sprintf("devices/%d", i)
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = memoryPeriod
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := c.PublishSync(pctx, topic, 1, mqttc.Payload(mqttc.Stamp{Client: i, Seq: seq, Sent: time.Now()}, 200))
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				failed.Add(1)
			}
			return
		}
	}
}

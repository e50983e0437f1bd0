package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// ErrNoConnection: not one device managed to connect during the run.
var ErrNoConnection = errors.New("sim: no device could connect")

// Report is the outcome of a run (also the JSON of --report FILE).
type Report struct {
	Broker    string    `json:"broker"`
	Profile   string    `json:"profile"`
	Format    string    `json:"format"`
	Devices   int       `json:"devices"`
	BadActors int       `json:"bad_actors_count"`
	Rate      float64   `json:"rate_per_device"`
	QoS       byte      `json:"qos"`
	Started   time.Time `json:"started"`
	Seconds   float64   `json:"seconds"`
	Stats
	AckedPerSecond float64 `json:"acked_per_second"`
	AckLatencyMs   struct {
		P50 float64 `json:"p50"`
		P95 float64 `json:"p95"`
		P99 float64 `json:"p99"`
	} `json:"ack_latency_ms"` // upper bounds of 19%-wide buckets
}

// Fleet is a configured fleet; Run it once.
type Fleet struct {
	cfg   Config
	c     *counters
	mu    sync.Mutex
	start time.Time // set by Run; protected by mu
}

// New validates cfg (filling defaults) and returns the fleet.
func New(cfg Config) (*Fleet, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	kinds := []string(nil)
	if cfg.BadActors > 0 {
		kinds = cfg.BadKinds
	}
	return &Fleet{cfg: cfg, c: newCounters(kinds)}, nil
}

// Run simulates the fleet with cfg until its Duration is over and the
// queues are drained (at most DrainTimeout more), or ctx ends.
func Run(ctx context.Context, cfg Config) (Report, error) {
	f, err := New(cfg)
	if err != nil {
		return Report{}, err
	}
	return f.Run(ctx)
}

// Config is the fleet's configuration with defaults filled in.
func (f *Fleet) Config() Config { return f.cfg }

// Stats returns the counters now; safe to call during Run.
func (f *Fleet) Stats() Stats {
	f.mu.Lock()
	start := f.start
	f.mu.Unlock()
	var el time.Duration
	if !start.IsZero() {
		el = time.Since(start)
	}
	return f.c.snapshot(el)
}

// Run runs the fleet (see the package function Run).
func (f *Fleet) Run(ctx context.Context) (Report, error) {
	cfg := &f.cfg
	start := time.Now()
	f.mu.Lock()
	f.start = start
	f.mu.Unlock()
	var end time.Time
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Duration > 0 {
		end = start.Add(cfg.Duration)
		var cancelT context.CancelFunc
		runCtx, cancelT = context.WithDeadline(runCtx, end.Add(cfg.DrainTimeout))
		defer cancelT()
	}
	seed := uint64(cfg.Seed)
	if seed == 0 {
		seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(seed, 0))

	var wg sync.WaitGroup
	for i := range cfg.Devices {
		id, pw := f.identity(i)
		d := newDevice(cfg, f.c, i, id, pw, seed)
		at := start.Add(time.Duration(rng.Int64N(int64(cfg.RampUp) + 1)))
		wg.Go(func() { d.run(runCtx, at, end) })
	}
	for i := range cfg.BadActors {
		id, pw := f.identity(cfg.Devices + i)
		kind := cfg.BadKinds[i%len(cfg.BadKinds)]
		b := &badActor{cfg: cfg, c: f.c.bad[kind], kind: kind, id: id, pw: pw, rng: rand.New(rand.NewPCG(seed, 1<<32+uint64(i)))}
		wg.Go(func() { b.run(runCtx, start.Add(cfg.RampUp), end) })
	}
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		f.reportProgress(runCtx)
	}()
	wg.Wait()
	cancel()
	<-progressDone
	rep := f.report(start)
	if cfg.Progress != nil {
		cfg.Progress(rep.Stats)
	}
	if rep.Connects == 0 && cfg.Devices > 0 {
		return rep, fmt.Errorf("%w to %s (%d attempts failed)", ErrNoConnection, cfg.Broker, rep.ConnectFailures)
	}
	return rep, nil
}

// identity is device i's client ID and password (bad actors follow the
// devices).
func (f *Fleet) identity(i int) (id, pw string) {
	if f.cfg.Credentials != nil {
		c := f.cfg.Credentials[i]
		return c.ID, c.Password
	}
	if i >= f.cfg.Devices {
		return fmt.Sprintf("%sbad-%03d", f.cfg.IDPrefix, i-f.cfg.Devices+1), ""
	}
	return fmt.Sprintf("%s%04d", f.cfg.IDPrefix, i+1), ""
}

func (f *Fleet) reportProgress(ctx context.Context) {
	if f.cfg.Progress == nil {
		return
	}
	t := time.NewTicker(f.cfg.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.cfg.Progress(f.Stats())
		}
	}
}

func (f *Fleet) report(start time.Time) Report {
	cfg := &f.cfg
	r := Report{
		Broker: cfg.Broker, Profile: cfg.Profile, Format: cfg.Format, Devices: cfg.Devices,
		BadActors: cfg.BadActors, Rate: cfg.Rate, QoS: cfg.QoS, Started: start.UTC(),
		Stats: f.c.snapshot(time.Since(start)),
	}
	r.Seconds = r.Elapsed.Seconds()
	if r.Seconds > 0 {
		r.AckedPerSecond = float64(r.Acked) / r.Seconds
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r.AckLatencyMs.P50 = ms(f.c.latency.quantile(0.50))
	r.AckLatencyMs.P95 = ms(f.c.latency.quantile(0.95))
	r.AckLatencyMs.P99 = ms(f.c.latency.quantile(0.99))
	return r
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/stats"
	"github.com/edgelog/edgelog/benchmarks/internal/sut"
)

// Kinds of system under test, in report order.
const (
	kindEdgelog   = "edgelog"
	kindMosquitto = "mosquitto"
	kindNATS      = "nats"
)

var allKinds = []string{kindEdgelog, kindMosquitto, kindNATS}

// displayName is how tables name each kind.
var displayName = map[string]string{
	kindEdgelog:   "edgelog agent",
	kindMosquitto: "Mosquitto",
	kindNATS:      "NATS",
}

// env is what every scenario shares: binaries, scratch space, settings.
type env struct {
	edgelog string // edgelog binary
	tmp     string // scratch root; each system gets a fresh directory
	rounds  int
	quick   bool              // smaller sizes, for a smoke run
	command string            // recorded with the results
	missing map[string]string // kind → why it is skipped
	seq     atomic.Int64      // for unique directory names
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s load %.1f  %s\n", time.Now().Format("15:04:05"), stats.LoadAvg(), fmt.Sprintf(format, args...))
}

// kinds returns the kinds that can run.
func (e *env) kinds() []string {
	var out []string
	for _, k := range allKinds {
		if e.missing[k] == "" {
			out = append(out, k)
		}
	}
	return out
}

// options tune a system for one scenario; the zero value is the suite's
// defaults.
type options struct {
	agent sut.AgentOptions
	mosq  sut.MosquittoOptions
	nats  sut.NATSOptions
}

// newSystem makes a fresh installation of kind in its own directory.
func (e *env) newSystem(kind string, o options) (*sut.System, error) {
	dir := filepath.Join(e.tmp, fmt.Sprintf("%s-%d", kind, e.seq.Add(1)))
	switch kind {
	case kindEdgelog:
		return sut.EdgelogAgent(e.edgelog, dir, o.agent)
	case kindMosquitto:
		return sut.Mosquitto(dir, o.mosq)
	case kindNATS:
		return sut.NATS(dir, o.nats)
	}
	return nil, fmt.Errorf("unknown system %q", kind)
}

// startFresh makes and starts a fresh installation and waits for MQTT.
func (e *env) startFresh(ctx context.Context, kind string, o options) (*sut.System, error) {
	s, err := e.newSystem(kind, o)
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		s.Remove()
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := s.WaitMQTT(wctx); err != nil {
		s.Remove()
		return nil, err
	}
	return s, nil
}

// cdfPoints is a latency distribution reduced for JSON and plots.
type cdfPoints struct {
	Ms   []float64 `json:"ms"`
	Frac []float64 `json:"frac"`
}

func makeCDF(sorted []time.Duration) cdfPoints {
	xs, ys := stats.CDF(sorted, 400)
	return cdfPoints{Ms: xs, Frac: ys}
}

// latencySummary is stats.Latency in milliseconds, for JSON.
type latencySummary struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func summarize(ds []time.Duration) latencySummary {
	l := stats.Summarize(ds)
	return latencySummary{N: l.N, P50: stats.Ms(l.P50), P90: stats.Ms(l.P90), P99: stats.Ms(l.P99), Max: stats.Ms(l.Max)}
}

// cellFor returns the first of cells that match accepts, appending mk() if
// none does. Scenarios keep one cell per system (and load) and append a
// round to it each time.
func cellFor[C any](cells *[]C, match func(C) bool, mk func() C) *C {
	for i := range *cells {
		if match((*cells)[i]) {
			return &(*cells)[i]
		}
	}
	*cells = append(*cells, mk())
	return &(*cells)[len(*cells)-1]
}

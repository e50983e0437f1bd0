// Command compare runs edgelog's side-by-side benchmark suite against
// Mosquitto and NATS on this machine, every system started fresh on
// loopback for every measurement, the systems interleaved within each
// round, and writes the results (JSON), a Markdown report and PNG plots.
//
//	go build -o /tmp/edgelog ./cmd/edgelog
//	go run ./benchmarks/cmd/compare -edgelog /tmp/edgelog -rounds 3
//
// benchmarks/run-all.sh does both, installing Mosquitto and NATS first if
// they are missing. Scenarios (-scenarios, comma-separated): ingest, loss,
// recovery, memory, latency, drain. -report-only re-renders the report and
// plots from the JSON of an earlier run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/stats"
	"github.com/edgelog/edgelog/benchmarks/internal/sut"
)

// meta describes one scenario's run.
type meta struct {
	Scenario string  `json:"scenario"`
	Date     string  `json:"date"`
	Machine  string  `json:"machine"`
	Versions string  `json:"versions"`
	Command  string  `json:"command"`
	Rounds   int     `json:"rounds"`
	Load1    float64 `json:"loadavg_1m_start"`
	Load1End float64 `json:"loadavg_1m_end"`
	Seconds  float64 `json:"seconds"`
	Quick    bool    `json:"quick,omitempty"`
}

// stored is the JSON file of one scenario.
type stored struct {
	Meta   meta            `json:"meta"`
	Result json.RawMessage `json:"result"`
}

// scenario is one benchmark of the suite.
type scenario struct {
	name string
	run  func(context.Context, *env) (any, error)
}

func scenarios() []scenario {
	return []scenario{
		{"ingest", func(ctx context.Context, e *env) (any, error) { return runIngest(ctx, e) }},
		{"loss", func(ctx context.Context, e *env) (any, error) { return runLoss(ctx, e) }},
		{"recovery", func(ctx context.Context, e *env) (any, error) { return runRecovery(ctx, e) }},
		{"memory", func(ctx context.Context, e *env) (any, error) { return runMemory(ctx, e) }},
		{"latency", func(ctx context.Context, e *env) (any, error) { return runLatency(ctx, e) }},
		{"drain", func(ctx context.Context, e *env) (any, error) { return runDrain(ctx, e) }},
	}
}

func main() {
	var (
		e          env
		list       string
		outDir     string
		plotDir    string
		reportOnly bool
		command    string
	)
	flag.StringVar(&e.edgelog, "edgelog", "./edgelog", "edgelog binary")
	flag.IntVar(&e.rounds, "rounds", 3, "runs of every measurement; tables report the median")
	flag.BoolVar(&e.quick, "quick", false, "small sizes, one round: a smoke run of the machinery")
	flag.StringVar(&list, "scenarios", "ingest,loss,recovery,memory,latency,drain", "scenarios to run, comma-separated")
	flag.StringVar(&outDir, "out", "benchmarks/results", "directory for <scenario>.json and report.md")
	flag.StringVar(&plotDir, "plots", "benchmarks/plots", "directory for the PNG plots")
	flag.BoolVar(&reportOnly, "report-only", false, "only re-render report and plots from the JSON in -out")
	flag.StringVar(&command, "command", "", "the command line to record in the results (default: this one)")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if e.quick && !set["out"] && !set["plots"] {
		// A smoke run must not overwrite the suite's published results.
		outDir = filepath.Join(os.TempDir(), "edgelog-bench-quick")
		plotDir = filepath.Join(outDir, "plots")
		fmt.Fprintf(os.Stderr, "compare: -quick: writing to %s\n", outDir)
	}
	if command != "" {
		e.command = command
	} else {
		e.command = "go run ./benchmarks/cmd/compare " + strings.Join(os.Args[1:], " ")
	}
	if e.rounds < 1 {
		fmt.Fprintln(os.Stderr, "compare: -rounds must be at least 1")
		os.Exit(2)
	}
	if e.quick {
		e.rounds = 1
	}
	names := strings.Split(list, ",")
	for _, n := range names {
		if !slices.ContainsFunc(scenarios(), func(s scenario) bool { return s.name == n }) {
			fmt.Fprintf(os.Stderr, "compare: unknown scenario %q\n", n)
			os.Exit(2)
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		fatal(err)
	}
	if !reportOnly {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := runAll(ctx, &e, names, outDir); err != nil {
			fatal(err)
		}
	}
	if err := render(outDir, plotDir); err != nil {
		fatal(err)
	}
	fmt.Fprintf(os.Stderr, "compare: wrote %s and the plots in %s\n", filepath.Join(outDir, "report.md"), plotDir)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "compare:", err)
	os.Exit(1)
}

func runAll(ctx context.Context, e *env, names []string, outDir string) error {
	abs, err := filepath.Abs(e.edgelog)
	if err != nil {
		return err
	}
	e.edgelog = abs
	e.missing = map[string]string{}
	for kind, bin := range map[string]string{kindEdgelog: e.edgelog, kindMosquitto: "mosquitto", kindNATS: "nats-server"} {
		if err := sut.Available(bin); err != nil {
			e.missing[kind] = bin + " not found"
			fmt.Fprintf(os.Stderr, "compare: skipping %s: %v\n", kind, err)
		}
	}
	if e.missing[kindEdgelog] != "" {
		return errors.New("the edgelog binary is required (-edgelog)")
	}
	e.tmp, err = os.MkdirTemp("", "edgelog-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(e.tmp)
	vers := versions(e.edgelog)
	for _, sc := range scenarios() {
		if !slices.Contains(names, sc.name) {
			continue
		}
		m := meta{Scenario: sc.name, Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), Machine: stats.Machine(),
			Versions: vers, Command: e.command, Rounds: e.rounds, Load1: stats.LoadAvg(), Quick: e.quick}
		e.logf("scenario %s: start", sc.name)
		start := time.Now()
		res, err := sc.run(ctx, e)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		m.Seconds, m.Load1End = time.Since(start).Seconds(), stats.LoadAvg()
		raw, err := json.Marshal(res)
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(stored{Meta: m, Result: raw}, "", " ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(outDir, sc.name+".json"), b, 0o644); err != nil {
			return err
		}
		e.logf("scenario %s: done in %.0f s", sc.name, m.Seconds)
	}
	return nil
}

// versions names the versions of every system under test.
func versions(edgelog string) string {
	out := []string{"edgelog " + gitDescribe(), runtime.Version()}
	if b, _ := exec.Command("mosquitto", "-h").CombinedOutput(); len(b) > 0 {
		if first, _, _ := strings.Cut(string(b), "\n"); strings.Contains(first, "mosquitto") {
			out = append(out, strings.TrimSpace(first))
		}
	}
	if b, err := exec.Command("nats-server", "--version").Output(); err == nil {
		out = append(out, strings.TrimSpace(string(b)))
	}
	return strings.Join(out, ", ")
}

func gitDescribe() string {
	b, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "(unknown commit)"
	}
	return "@" + strings.TrimSpace(string(b))
}

package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type compareOptions struct {
	edgelog string
	rounds  int
}

// broker is one system under test.
type broker struct {
	name    string
	note    string
	missing string // why it is skipped ("" if available)
	// start launches it in dir listening for MQTT on port; metricsURL is
	// where edgelog serves /metrics ("" for the others).
	start func(dir string, port int) (cmd *exec.Cmd, metricsURL string, err error)
}

type scenario struct {
	name              string
	clients, messages int
}

// sample is one run of one broker under one load.
type sample struct {
	res    Result
	rssKiB int64 // peak resident set of the broker process
	fsyncs int64 // edgelog only: WAL fsyncs during the run
}

func brokers(o compareOptions) []broker {
	bs := []broker{
		{name: "edgelog agent", note: "--fsync always: every PUBACK after its record's fsync (group commit)", start: func(dir string, port int) (*exec.Cmd, string, error) {
			http := freePort()
			cmd := exec.Command(o.edgelog, "agent", "--local-only", "--data", dir, "--fsync", "always",
				"--listen-mqtt", fmt.Sprintf("127.0.0.1:%d", port), "--listen-http", fmt.Sprintf("127.0.0.1:%d", http), "--log-level", "warn")
			return cmd, fmt.Sprintf("http://127.0.0.1:%d/metrics", http), cmd.Start()
		}},
		{name: "Mosquitto", note: "persistence true (in-memory store saved at autosave/shutdown; no fsync per message)", start: func(dir string, port int) (*exec.Cmd, string, error) {
			conf := filepath.Join(dir, "mosquitto.conf")
			body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n", port, dir)
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				return nil, "", err
			}
			cmd := exec.Command("mosquitto", "-c", conf)
			return cmd, "", cmd.Start()
		}},
		{name: "NATS", note: "MQTT with JetStream file storage (default sync interval; no fsync per message)", start: func(dir string, port int) (*exec.Cmd, string, error) {
			conf := filepath.Join(dir, "nats.conf")
			body := fmt.Sprintf("listen: 127.0.0.1:%d\nserver_name: bench\njetstream { store_dir: %q }\nmqtt { listen: \"127.0.0.1:%d\" }\n", freePort(), filepath.Join(dir, "js"), port)
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				return nil, "", err
			}
			cmd := exec.Command("nats-server", "-c", conf)
			return cmd, "", cmd.Start()
		}},
	}
	if _, err := os.Stat(o.edgelog); err != nil {
		bs[0].missing = err.Error()
	}
	for i, bin := range map[int]string{1: "mosquitto", 2: "nats-server"} {
		if _, err := exec.LookPath(bin); err != nil {
			bs[i].missing = bin + " not installed"
		}
	}
	return bs
}

func runCompare(o options, co compareOptions) error {
	bs := brokers(co)
	scenarios := []scenario{{"10 clients × 20,000", 10, 20000}, {"100 clients × 2,000", 100, 2000}}
	results := map[string][]sample{} // broker/scenario → samples
	for r := 1; r <= co.rounds; r++ {
		for _, sc := range scenarios {
			for _, b := range bs {
				if b.missing != "" {
					continue
				}
				s, err := runOne(o, b, sc)
				if err != nil {
					return fmt.Errorf("%s, %s, round %d: %w", b.name, sc.name, r, err)
				}
				fmt.Fprintf(os.Stderr, "round %d %-14s %-20s %s; peak RSS %.1f MiB\n", r, b.name, sc.name, s.res, float64(s.rssKiB)/1024)
				k := b.name + "/" + sc.name
				results[k] = append(results[k], s)
			}
		}
	}
	report(os.Stdout, o, co, bs, scenarios, results)
	return nil
}

// runOne starts b fresh, runs one load against it and stops it.
func runOne(o options, b broker, sc scenario) (sample, error) {
	dir, err := os.MkdirTemp("", "mqttload-")
	if err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(dir)
	port := freePort()
	cmd, metricsURL, err := b.start(dir, port)
	if err != nil {
		return sample{}, err
	}
	defer stop(cmd)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitListening(addr, 30*time.Second); err != nil {
		return sample{}, err
	}
	before := fsyncCount(metricsURL)
	o.addr, o.clients, o.messages, o.label = addr, sc.clients, sc.messages, b.name
	res, err := run(o)
	if err != nil {
		return sample{}, err
	}
	if res.Errors > 0 {
		return sample{}, errors.New(res.FirstError)
	}
	s := sample{res: res, rssKiB: peakRSS(cmd.Process.Pid)}
	if metricsURL != "" {
		s.fsyncs = fsyncCount(metricsURL) - before
	}
	return s, nil
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitListening(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %v: %w", addr, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// peakRSS reads VmHWM (peak resident set, KiB) of a process.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

// fsyncCount reads edgelog_agent_wal_fsync_seconds_count from /metrics.
func fsyncCount(url string) int64 {
	if url == "" {
		return 0
	}
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^edgelog_agent_wal_fsync_seconds_count (\d+)`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

// median returns the sample with the median rate.
func median(ss []sample) sample {
	s := slices.Clone(ss)
	slices.SortFunc(s, func(a, b sample) int { return cmp.Compare(a.res.Rate, b.res.Rate) })
	return s[len(s)/2]
}

func report(w io.Writer, o options, co compareOptions, bs []broker, scs []scenario, results map[string][]sample) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "%s, %s, %d CPUs (%s), %s; QoS %d, %d-byte payloads, %d in flight per client; median of %d rounds (rate), peak RSS the highest\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), host, versions(), o.qos, o.size, o.inflight, co.rounds)
	fmt.Fprintln(w, "| load | broker | msg/s | p50 publish→ack | p99 publish→ack | peak RSS | fsyncs (msgs per fsync) |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|")
	for _, sc := range scs {
		for _, b := range bs {
			ss := results[b.name+"/"+sc.name]
			if len(ss) == 0 {
				fmt.Fprintf(w, "| %s | %s | skipped: %s | | | | |\n", sc.name, b.name, b.missing)
				continue
			}
			m := median(ss)
			var rss int64
			for _, s := range ss {
				rss = max(rss, s.rssKiB)
			}
			fs := "—"
			if m.fsyncs > 0 {
				fs = fmt.Sprintf("%d (%.0f)", m.fsyncs, float64(m.res.Messages)/float64(m.fsyncs))
			}
			fmt.Fprintf(w, "| %s | %s | %.0f | %.1f ms | %.1f ms | %.1f MiB | %s |\n", sc.name, b.name, m.res.Rate, m.res.P50Ms, m.res.P99Ms, float64(rss)/1024, fs)
		}
	}
	fmt.Fprintln(w)
	for _, sc := range scs {
		e := results[bs[0].name+"/"+sc.name]
		if len(e) == 0 {
			continue
		}
		var parts []string
		for _, b := range bs[1:] {
			if ss := results[b.name+"/"+sc.name]; len(ss) > 0 {
				parts = append(parts, fmt.Sprintf("%.2f× %s's msg/s", median(e).res.Rate/median(ss).res.Rate, b.name))
			}
		}
		fmt.Fprintf(w, "- %s: edgelog does %s.\n", sc.name, strings.Join(parts, ", "))
	}
	for _, b := range bs {
		fmt.Fprintf(w, "- %s: %s\n", b.name, b.note)
	}
}

func versions() string {
	var out []string
	if b, err := exec.Command("mosquitto", "-h").CombinedOutput(); err == nil || len(b) > 0 {
		if first := strings.SplitN(string(b), "\n", 2)[0]; strings.Contains(first, "mosquitto") {
			out = append(out, strings.TrimSpace(first))
		}
	}
	if b, err := exec.Command("nats-server", "--version").Output(); err == nil {
		out = append(out, strings.TrimSpace(string(b)))
	}
	out = append(out, runtime.Version())
	return strings.Join(out, ", ")
}

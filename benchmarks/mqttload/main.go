// Command mqttload drives one MQTT broker with pipelined QoS 1 publishes and
// reports throughput and publish→ack latency: the load generator of the
// benchmark suite (benchmarks/cmd/compare), usable on its own against any
// broker. It speaks MQTT 3.1.1 over plain TCP with a minimal client, so
// the generator costs the broker's machine as little CPU as possible.
//
// Each client connects, then all start at once; a client keeps -inflight
// publishes outstanding until their PUBACK and sends -messages in all. The
// rate is acknowledged messages over the time from the first publish to
// the last ack.
//
//	mqttload -addr 127.0.0.1:1883 -clients 10 -messages 20000 -inflight 100 -size 200
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/loadgen"
	"github.com/edgelog/edgelog/benchmarks/internal/stats"
)

// result is what one run measured, as printed.
type result struct {
	Label    string  `json:"label,omitempty"`
	Clients  int     `json:"clients"`
	Messages int     `json:"messages"` // acknowledged, all clients
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"msgs_per_sec"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	Errors   int     `json:"errors"`
	FirstErr string  `json:"first_error,omitempty"`
}

func main() {
	var (
		addr, label string
		jsonOut     bool
		timeout     time.Duration
		l           loadgen.Load
	)
	flag.StringVar(&addr, "addr", "127.0.0.1:1883", "broker address")
	flag.IntVar(&l.Clients, "clients", 10, "concurrent clients")
	flag.IntVar(&l.PerClient, "messages", 20000, "messages per client")
	flag.IntVar(&l.Inflight, "inflight", 100, "unacknowledged publishes per client")
	flag.IntVar(&l.Size, "size", 200, "payload bytes")
	flag.StringVar(&label, "label", "", "label printed with the result")
	flag.BoolVar(&jsonOut, "json", false, "print the result as one JSON line")
	flag.DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.Parse()
	if l.Clients < 1 || l.PerClient < 1 || l.Inflight < 1 || l.Inflight > 65000 || l.Size < 0 {
		fmt.Fprintln(os.Stderr, "mqttload: bad flags")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := l.Run(ctx, addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mqttload:", err)
		os.Exit(1)
	}
	lat := stats.Summarize(res.Latencies)
	out := result{Label: label, Clients: l.Clients, Messages: res.Acked, Seconds: res.Elapsed.Seconds(), Rate: res.Rate(),
		P50Ms: stats.Ms(lat.P50), P99Ms: stats.Ms(lat.P99), MaxMs: stats.Ms(lat.Max), Errors: res.Errors}
	if res.FirstErr != nil {
		out.FirstErr = res.FirstErr.Error()
	}
	if jsonOut {
		_ = json.NewEncoder(os.Stdout).Encode(out)
	} else {
		fmt.Printf("%s: %d clients, %d msgs in %.2fs = %.0f msg/s; publish→ack p50 %.2f ms, p99 %.2f ms, max %.2f ms; errors %d %s\n",
			out.Label, out.Clients, out.Messages, out.Seconds, out.Rate, out.P50Ms, out.P99Ms, out.MaxMs, out.Errors, out.FirstErr)
	}
	if res.Errors > 0 {
		os.Exit(1)
	}
}

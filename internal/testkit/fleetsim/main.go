// Command fleetsim simulates a fleet of agents for black-box tests: in one
// process, N agents, each with its own WAL (appended to every second) and
// the agent's own shipper (agent/shipper), sync to a hub. The tests run it
// as a separate process, built without the race detector, so that hundreds
// of QUIC clients neither exceed the detector's goroutine limit nor load the
// process under test.
//
// It reports on stdout, one JSON object a line:
//
//	{"up":I,"ms":T}                  agent I established a new sync session at T (Unix ms)
//	{"drained":true,"durable":{...}} after "stop" on stdin: every agent's last
//	                                 record (by agent ID) is acknowledged by the hub
//
// Credentials are minted from the hub's CA in --hub-data.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/edgelog/edgelog/agent/shipper"
	"github.com/edgelog/edgelog/internal/pki"
	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/wal"
	"github.com/prometheus/client_golang/prometheus"
)

// sim is one simulated agent.
type sim struct {
	id    string
	topic string
	log   *wal.Log
	s     *shipper.Shipper
	reg   *prometheus.Registry
	// ends is the session count seen at the last reported session start;
	// owned by the watch loop.
	ends float64
	up   bool
}

// sessionEnds is how many sync sessions or attempts have ended.
func (a *sim) sessionEnds() float64 {
	mfs, _ := a.reg.Gather()
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "edgelog_sync_session_errors_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

func main() {
	hubAddr := flag.String("hub", "", "hub sync address")
	hubData := flag.String("hub-data", "", "hub data directory (its CA mints the agents' credentials)")
	dir := flag.String("dir", "", "directory for the agents' WALs")
	n := flag.Int("agents", 100, "agents")
	prefix := flag.String("prefix", "fleet", "agent ID prefix and topic")
	flag.Parse()
	if err := run(*hubAddr, *hubData, *dir, *prefix, *n); err != nil {
		fmt.Fprintln(os.Stderr, "fleetsim:", err)
		os.Exit(1)
	}
}

func run(hubAddr, hubData, dir, prefix string, n int) error {
	ca, err := pki.LoadOrCreate(hubData)
	if err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	agents := make([]*sim, n)
	for i := range agents {
		id := fmt.Sprintf("%s-%03d", prefix, i)
		pem, err := ca.MintAgent(id, 0)
		if err != nil {
			return err
		}
		bundle, err := pki.ParseBundle(pem)
		if err != nil {
			return err
		}
		l, err := wal.Open(filepath.Join(dir, id), wal.Options{Fsync: wal.FsyncNever, SegmentSize: 64 << 10, Logger: quiet})
		if err != nil {
			return err
		}
		defer l.Close()
		reg := prometheus.NewRegistry()
		s, err := shipper.New(l, func(seq uint64) error { return l.TruncateFront(seq + 1) },
			shipper.Config{Hub: hubAddr, Credentials: bundle, Logger: quiet, Registry: reg})
		if err != nil {
			return err
		}
		agents[i] = &sim{id: id, topic: prefix + "/" + id, log: l, s: s, reg: reg}
	}
	out := json.NewEncoder(os.Stdout)
	var outMu sync.Mutex
	emit := func(v any) {
		outMu.Lock()
		defer outMu.Unlock()
		_ = out.Encode(v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	appendCtx, stopAppending := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var appenders sync.WaitGroup
	for i, a := range agents {
		wg.Go(func() { _ = a.s.Run(ctx) })
		appenders.Go(func() { appendEverySecond(appendCtx, a, time.Duration(i)*time.Second/time.Duration(n)) })
	}
	wg.Go(func() { watch(ctx, agents, emit) })

	// Wait for "stop" on stdin (or its end).
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() && sc.Text() != "stop" {
	}
	stopAppending()
	appenders.Wait()
	durable := map[string]uint64{}
	for _, a := range agents {
		for a.log.Durable()+1 < a.log.Next() {
			time.Sleep(time.Millisecond)
		}
		durable[a.id] = a.log.Durable()
	}
	for _, a := range agents {
		for a.s.Acked() < durable[a.id] {
			time.Sleep(10 * time.Millisecond)
		}
	}
	emit(map[string]any{"drained": true, "durable": durable})
	return nil
}

// appendEverySecond appends one record a second, starting after offset.
func appendEverySecond(ctx context.Context, a *sim, offset time.Duration) {
	select {
	case <-time.After(offset):
	case <-ctx.Done():
		return
	}
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	for {
		r := record.Record{TimeMs: time.Now().UnixMilli(), ClientID: a.id + "-sensor", Topic: a.topic, QoS: 1,
			Payload: []byte(a.id + "#" + strconv.FormatUint(a.log.Next(), 10))}
		if b, err := record.Encode(&r); err == nil {
			_, _ = a.log.Append(ctx, b)
		}
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}

// watch reports every new session: an agent seen connected after it was
// seen disconnected, or whose count of ended sessions moved since it was
// last seen connected (a reconnection quicker than the polling; the count
// is read every half second only, it is costly).
func watch(ctx context.Context, agents []*sim, emit func(any)) {
	tk := time.NewTicker(10 * time.Millisecond)
	defer tk.Stop()
	for tick := 0; ; tick++ {
		for i, a := range agents {
			if !a.s.SyncStatus().Connected {
				a.up = false
				continue
			}
			if !a.up || tick%50 == 0 {
				ends := a.sessionEnds()
				if !a.up || ends != a.ends {
					a.up, a.ends = true, ends
					emit(map[string]any{"up": i, "ms": time.Now().UnixMilli()})
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}

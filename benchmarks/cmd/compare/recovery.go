package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/loadgen"
	"github.com/edgelog/edgelog/benchmarks/internal/stats"
	"github.com/edgelog/edgelog/benchmarks/internal/sut"
)

// recoveryRun is one kill -9 and restart of a system holding a backlog.
type recoveryRun struct {
	Backlog   int     `json:"backlog"`    // messages acknowledged into the backlog
	FillRate  float64 `json:"fill_rate"`  // msg/s while filling it
	DiskBytes int64   `json:"disk_bytes"` // data directory size at the kill
	ListenMs  float64 `json:"listen_ms"`  // restart → first TCP connection accepted
	AckMs     float64 `json:"ack_ms"`     // restart → first QoS 1 publish acknowledged
	RSSKiB    int64   `json:"rss_kib"`    // resident set right after that first ack
	Recovered int64   `json:"recovered"`  // backlog messages present after the restart
	Load1     float64 `json:"loadavg_1m"`
}

type recoveryCell struct {
	Kind   string        `json:"kind"`
	Rounds []recoveryRun `json:"rounds"`
}

// Median is the round with the median time to the first ack.
func (c recoveryCell) Median() recoveryRun {
	return stats.MedianBy(c.Rounds, func(r recoveryRun) float64 { return r.AckMs })
}

type recoveryResult struct {
	Backlog int            `json:"backlog"`
	Size    int            `json:"size"`
	Cells   []recoveryCell `json:"cells"`
}

func runRecovery(ctx context.Context, e *env) (*recoveryResult, error) {
	l := loadgen.Load{Clients: 10, PerClient: 100000, Inflight: 100, Size: 200}
	if e.quick {
		l.PerClient = 5000
	}
	res := &recoveryResult{Backlog: l.Clients * l.PerClient, Size: l.Size}
	for _, kind := range e.kinds() {
		res.Cells = append(res.Cells, recoveryCell{Kind: kind})
	}
	for r := 1; r <= e.rounds; r++ {
		for i, kind := range e.kinds() {
			run, err := recoveryOnce(ctx, e, kind, l)
			if err != nil {
				return nil, fmt.Errorf("recovery %s, round %d: %w", kind, r, err)
			}
			e.logf("recovery round %d %-9s backlog %d (%.0f msg/s), disk %.0f MiB, listen %.0f ms, first ack %.0f ms, RSS %s, recovered %d",
				r, kind, run.Backlog, run.FillRate, float64(run.DiskBytes)/(1<<20), run.ListenMs, run.AckMs, stats.MiB(run.RSSKiB), run.Recovered)
			res.Cells[i].Rounds = append(res.Cells[i].Rounds, run)
		}
	}
	return res, nil
}

func recoveryOnce(ctx context.Context, e *env, kind string, l loadgen.Load) (recoveryRun, error) {
	var run recoveryRun
	// The backlog is what a durable subscriber that is away has queued.
	s, err := e.prepareDurable(ctx, kind, options{nats: lossNATS}, false)
	if err != nil {
		return run, err
	}
	defer s.Remove()
	lctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	lr, err := l.Run(lctx, s.MQTTAddr)
	cancel()
	if err != nil {
		return run, err
	}
	if lr.Errors > 0 {
		return run, fmt.Errorf("filling the backlog: %w", lr.FirstErr)
	}
	run.Backlog, run.FillRate = lr.Acked, lr.Rate()
	if kind == kindMosquitto {
		// Mosquitto keeps messages in memory until it saves its store;
		// save it (SIGUSR1) so the backlog is on disk at the kill.
		if err := saveMosquitto(ctx, s); err != nil {
			return run, err
		}
	}
	time.Sleep(2 * time.Second) // the same settling time for every system
	run.DiskBytes = s.DiskBytes()
	if err := s.Kill(); err != nil {
		return run, err
	}
	run.Load1 = stats.LoadAvg()
	if err := s.Start(); err != nil {
		return run, err
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	ack, listen, err := s.FirstAck(actx, "probe/restart")
	cancel()
	if err != nil {
		return run, err
	}
	run.AckMs, run.ListenMs = float64(ack)/1e6, float64(listen)/1e6
	if m, err := s.Memory(); err == nil {
		run.RSSKiB = m.RSS
	}
	switch kind {
	case kindEdgelog:
		first, err1 := s.Metric(ctx, "edgelog_agent_wal_first_seq")
		next, err2 := s.Metric(ctx, "edgelog_agent_wal_next_seq")
		if err1 != nil || err2 != nil {
			return run, fmt.Errorf("agent metrics: %v %v", err1, err2)
		}
		run.Recovered = int64(next-first) - 1 // less the probe
	case kindNATS:
		n, err := s.StreamMessages(ctx)
		if err != nil {
			return run, err
		}
		run.Recovered = int64(n["$MQTT_msgs"])
	case kindMosquitto:
		got := newKeySet()
		if _, err := drainDurable(ctx, s, got, func() bool { return got.len() >= run.Backlog }); err != nil {
			return run, err
		}
		run.Recovered = int64(got.len())
	}
	return run, nil
}

// saveMosquitto asks Mosquitto to write its store and waits until it has
// (it writes mosquitto.db.new, then renames it over mosquitto.db).
func saveMosquitto(ctx context.Context, s *sut.System) error {
	db := filepath.Join(s.Dir, "mosquitto.db")
	before := time.Now()
	time.Sleep(10 * time.Millisecond) // mtime granularity
	if err := s.Signal(syscall.SIGUSR1); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		fi, err := os.Stat(db)
		_, errNew := os.Stat(db + ".new")
		if err == nil && fi.ModTime().After(before) && os.IsNotExist(errNew) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("mosquitto did not save its store within 5 minutes")
}

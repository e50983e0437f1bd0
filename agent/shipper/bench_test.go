package shipper

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/syncproto"
	"github.com/edgelog/edgelog/wal"
)

// telemetry returns a ~200-byte JSON reading for device dev.
func telemetry(rng *rand.Rand, dev int, seq uint64) []byte {
	p := fmt.Appendf(nil, `{"device":"dev-%04d","seq":%d,"ts":%d,"temp":%.2f,"humidity":%.1f,"pressure":%.1f,"battery":%.3f,"rssi":%d,"fw":"2.4.1","status":"ok"}`,
		dev, seq, time.Now().UnixMilli(), 15+rng.Float64()*20, 30+rng.Float64()*50, 990+rng.Float64()*30, 3+rng.Float64(), -40-rng.IntN(60))
	for len(p) < 200 {
		p = append(p, ' ')
	}
	return p[:200]
}

// fillWAL appends n records of 200-byte payloads from 1,000 devices:
// JSON telemetry, or random bytes (incompressible).
func fillWAL(b testing.TB, l *wal.Log, n int, rng *rand.Rand, random bool) uint64 {
	var last uint64
	for i := range n {
		dev := rng.IntN(1000)
		r := record.Record{TimeMs: time.Now().UnixMilli(), ClientID: fmt.Sprintf("dev-%04d", dev),
			Topic: fmt.Sprintf("telemetry/dev-%04d/env", dev), QoS: 1, Payload: telemetry(rng, dev, uint64(i))}
		if random {
			for j := range r.Payload {
				r.Payload[j] = byte(rng.Uint32())
			}
		}
		enc, err := record.Encode(&r)
		if err != nil {
			b.Fatal(err)
		}
		if last, err = l.AppendAsync(context.Background(), enc, nil); err != nil {
			b.Fatal(err)
		}
	}
	syncWAL(b, l, last)
	return last
}

// BenchmarkDrain measures how fast a backlog of 500,000 records of 200
// bytes drains from an agent's WAL into the hub (fsync always at the hub)
// over QUIC on loopback, while live traffic (2,000 records/s) continues.
//
//	go test -run '^$' -bench Drain -benchtime 1x ./agent/shipper/
func BenchmarkDrain(b *testing.B) {
	for _, c := range []struct {
		name     string
		compress bool
		random   bool
	}{{"telemetry/zstd", true, false}, {"telemetry/uncompressed", false, false}, {"random/zstd", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				drainOnce(b, 500_000, !c.compress, c.random)
			}
		})
	}
}

func drainOnce(b *testing.B, backlog int, noCompress, random bool) {
	b.StopTimer()
	h := startHub(b, syncproto.Limits{})
	l, err := wal.Open(b.TempDir(), wal.Options{Fsync: wal.FsyncInterval})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	fillWAL(b, l, backlog, rng, random)
	creds := h.credentials("gw-bench")
	s, err := New(l, func(seq uint64) error { return l.TruncateFront(seq + 1) },
		Config{Hub: h.addr, Credentials: creds, Logger: quiet(), DisableCompression: noCompress})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var live atomic.Uint64
	stopLive := make(chan struct{})
	b.StartTimer()
	start := time.Now()
	wg.Go(func() { _ = s.Run(ctx) })
	wg.Go(func() { // live traffic: 2,000 records/s in bursts of 20
		lrng := rand.New(rand.NewPCG(3, 4))
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopLive:
				return
			case <-tk.C:
				live.Store(fillWAL(b, l, 20, lrng, random))
			}
		}
	})
	for s.Acked() < uint64(backlog) {
		time.Sleep(2 * time.Millisecond)
	}
	el := time.Since(start)
	close(stopLive)
	for s.Acked() < live.Load() {
		time.Sleep(2 * time.Millisecond)
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	b.ReportMetric(float64(backlog)/el.Seconds(), "records/s")
	b.ReportMetric(float64(backlog)*200/el.Seconds()/1e6, "payload-MB/s")
	b.ReportMetric(float64(s.rawTotal.Load())/float64(max(1, s.wireTotal.Load())), "compression")
	h.shutdown()
}

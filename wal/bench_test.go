package wal

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchRecord is the 200-byte record the benchmarks append.
var benchRecord = make([]byte, 200)

// runAppenders appends b.N records from n goroutines, each waiting for its
// record to be committed before the next (as an MQTT client waiting for a
// PUBACK does), and reports records/s and the p99 append-to-durable latency.
func runAppenders(b *testing.B, n int, appendOne func(context.Context) error) {
	ctx := context.Background()
	var next atomic.Int64
	lat := make([][]time.Duration, n)
	var wg sync.WaitGroup
	b.SetBytes(int64(len(benchRecord)))
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := appendOne(ctx); err != nil {
					b.Error(err)
					return
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		}(g)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
}

func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		policy    FsyncPolicy
		appenders int
	}{
		{FsyncAlways, 1}, {FsyncAlways, 16}, {FsyncAlways, 256},
		{FsyncInterval, 256}, {FsyncNever, 1}, {FsyncNever, 256},
	} {
		b.Run(fmt.Sprintf("fsync=%s/appenders=%d", c.policy, c.appenders), func(b *testing.B) {
			l := openT(b, b.TempDir(), Options{Fsync: c.policy})
			defer l.Close()
			runAppenders(b, c.appenders, func(ctx context.Context) error {
				_, err := l.Append(ctx, benchRecord)
				return err
			})
		})
	}
}

// BenchmarkAppendAsyncPipelined is the agent's pattern: few producers, each
// keeping many appends in flight and learning of durability by callback.
func BenchmarkAppendAsyncPipelined(b *testing.B) {
	l := openT(b, b.TempDir(), Options{Fsync: FsyncAlways})
	defer l.Close()
	ctx := context.Background()
	const inFlight = 1000
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	b.SetBytes(int64(len(benchRecord)))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		sem <- struct{}{}
		wg.Add(1)
		if _, err := l.AppendAsync(ctx, benchRecord, func(uint64, error) { <-sem; wg.Done() }); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

func BenchmarkSequentialRead(b *testing.B) {
	l := openT(b, b.TempDir(), Options{Fsync: FsyncNever, SegmentSize: 8 << 20})
	defer l.Close()
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		if _, err := l.AppendAsync(ctx, benchRecord, nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchRecord)))
	b.ResetTimer()
	r, err := l.NewReader(1)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, _, err := r.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

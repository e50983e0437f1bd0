package kafka

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Benchmarks with franz-go against a hub served on loopback in the same
// process (fsync always). Run:
//
//	go test -run '^$' -bench . -benchtime 400000x ./hub/kafka/
//	go test -run '^$' -bench EndToEnd -benchtime 1x ./hub/kafka/
//
// Each reports records/s and MB/s (of record values).

// benchValue is a telemetry-like value of n bytes, different per i.
func benchValue(i, n int) []byte {
	v := make([]byte, n)
	s := fmt.Sprintf(`{"device":"dev-%05d","seq":%d,"temp":%d.%d,"pad":"`, i%1000, i, 15+i%20, i%10)
	copy(v, s)
	for j := len(s); j < n-2; j++ {
		v[j] = 'a' + byte((i+j)%26)
	}
	copy(v[n-2:], `"}`)
	return v
}

func benchHub(b *testing.B, partitions int) *testHub {
	b.Helper()
	return startHub(b, "", "", hub.Config{Partitions: partitions}, Config{})
}

func reportRate(b *testing.B, records, valueBytes int, d time.Duration) {
	b.ReportMetric(float64(records)/d.Seconds(), "records/s")
	b.ReportMetric(float64(records*valueBytes)/d.Seconds()/1e6, "MB/s")
	b.ReportMetric(0, "ns/op")
}

// produceAll writes n records of size bytes with one idempotent acks=-1
// producer, as fast as it accepts them.
func produceAll(b *testing.B, cl *kgo.Client, topic string, n, size int) {
	b.Helper()
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	wg.Add(n)
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("dev-%d", i%1000)), Value: benchValue(i, size)}
		cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
}

func producer(b *testing.B, h *testHub) *kgo.Client {
	return h.client(kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100000))
}

func BenchmarkProduce(b *testing.B) {
	for _, size := range []int{200, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			h := benchHub(b, 8)
			cl := producer(b, h)
			produceAll(b, cl, "warm", 1000, size)
			b.ResetTimer()
			start := time.Now()
			produceAll(b, cl, "bench", b.N, size)
			reportRate(b, b.N, size, time.Since(start))
		})
	}
}

// BenchmarkFetch reads b.N records from one partition with one consumer.
func BenchmarkFetch(b *testing.B) {
	for _, size := range []int{200, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			h := benchHub(b, 1)
			produceAll(b, producer(b, h), "bench", b.N, size)
			cons := h.client(kgo.ConsumeTopics("bench"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(16<<20))
			b.ResetTimer()
			start := time.Now()
			consumeCount(b, cons, b.N)
			reportRate(b, b.N, size, time.Since(start))
		})
	}
}

// BenchmarkGroupFetch reads b.N records from 8 partitions as one member of
// a consumer group.
func BenchmarkGroupFetch(b *testing.B) {
	size := 200
	h := benchHub(b, 8)
	produceAll(b, producer(b, h), "bench", b.N, size)
	cons := h.client(kgo.ConsumeTopics("bench"), kgo.ConsumerGroup("bench"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(16<<20))
	b.ResetTimer()
	start := time.Now()
	consumeCount(b, cons, b.N)
	reportRate(b, b.N, size, time.Since(start))
}

func consumeCount(b *testing.B, cons *kgo.Client, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatalf("consumed %d of %d", got, n)
		}
		fs.EachError(func(t string, p int32, err error) { b.Fatalf("fetch %s/%d: %v", t, p, err) })
		got += fs.NumRecords()
	}
}

// BenchmarkEndToEndLatency produces 200-byte records at a steady 50,000
// records/s for 5 seconds (acks=-1, fsync always) while a consumer reads
// them, and reports the produce-call-to-consume latency percentiles.
func BenchmarkEndToEndLatency(b *testing.B) {
	const rate, secs, size = 50000, 5, 200
	h := benchHub(b, 8)
	prod := h.client(kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))
	cons := h.client(kgo.ConsumeTopics("lat"), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(100*time.Millisecond))
	produceAll(b, prod, "lat", 100, size) // creates the topic
	for i := 0; i < b.N; i++ {
		total := rate * secs
		lat := make([]time.Duration, 0, total)
		done := make(chan struct{})
		go func() {
			defer close(done)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			for len(lat) < total {
				fs := cons.PollFetches(ctx)
				if ctx.Err() != nil {
					return
				}
				now := time.Now()
				fs.EachRecord(func(r *kgo.Record) {
					sent := int64(binary.BigEndian.Uint64(r.Value))
					lat = append(lat, now.Sub(time.Unix(0, sent)))
				})
			}
		}()
		time.Sleep(500 * time.Millisecond) // the consumer is positioned
		start := time.Now()
		for j := 0; j < total; j++ {
			// Pace: record j is due at start + j/rate.
			if d := time.Until(start.Add(time.Duration(j) * time.Second / rate)); d > 0 {
				time.Sleep(d)
			}
			v := benchValue(j, size)
			binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
			prod.Produce(context.Background(), &kgo.Record{Topic: "lat", Key: []byte(fmt.Sprintf("dev-%d", j%1000)), Value: v}, nil)
		}
		sendTime := time.Since(start)
		<-done
		if len(lat) < total {
			b.Fatalf("consumed %d of %d", len(lat), total)
		}
		sort.Slice(lat, func(a, c int) bool { return lat[a] < lat[c] })
		pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
		b.ReportMetric(float64(total)/sendTime.Seconds(), "records/s")
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(pct(0.999), "p99.9-ms")
		b.ReportMetric(0, "ns/op")
	}
}

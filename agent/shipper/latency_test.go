package shipper_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgelog/edgelog/internal/testkit"
)

// BenchmarkLiveLatency measures live end-to-end latency with the real
// binary: MQTT QoS 1 publish to an agent (fsync always) → WAL → QUIC → hub
// (fsync always) → Kafka fetch by a consumer, at 10,000 messages/s of 200
// bytes from 20 devices for 20 s, after a 3 s warm-up.
//
//	go test -run '^$' -bench LiveLatency -benchtime 1x ./agent/shipper/
func BenchmarkLiveLatency(b *testing.B) {
	for range b.N {
		liveLatency(b, 20, 500, 20*time.Second)
	}
}

func liveLatency(b *testing.B, devices, perDevice int, dur time.Duration) {
	hubDir, agentDir := b.TempDir(), b.TempDir()
	syncAddr, kafkaAddr, hubHTTP := testkit.FreeUDP(b), testkit.FreeTCP(b), testkit.FreeTCP(b)
	hub := testkit.Start(b, "hub", "hub", "--data", hubDir, "--listen-sync", syncAddr, "--listen-kafka", kafkaAddr,
		"--listen-http", hubHTTP, "--partitions", "4", "--log-level", "warn")
	hub.WaitHTTP("http://"+hubHTTP+"/readyz", 2*time.Minute)
	creds := filepath.Join(b.TempDir(), "gw.pem")
	if out, err := exec.Command(testkit.Binary(b), "hub", "credentials", "--data", hubDir, "--agent", "gw-lat", "--out", creds).CombinedOutput(); err != nil {
		b.Fatalf("credentials: %v\n%s", err, out)
	}
	mqttAddr, agentHTTP := testkit.FreeTCP(b), testkit.FreeTCP(b)
	agent := testkit.Start(b, "agent", "agent", "--data", agentDir, "--hub", syncAddr, "--credentials", creds,
		"--listen-mqtt", mqttAddr, "--listen-http", agentHTTP, "--log-level", "warn")
	agent.WaitHTTP("http://"+agentHTTP+"/readyz", 2*time.Minute)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	warm := 3 * time.Second
	start := time.Now()
	measureFrom := start.Add(warm).UnixNano()
	stopAt := start.Add(warm + dur)

	var published, failed atomic.Int64
	var wg sync.WaitGroup
	for i := range devices {
		id := fmt.Sprintf("lat-%02d", i)
		opts := mqtt.NewClientOptions().AddBroker("tcp://" + mqttAddr).SetClientID(id).SetCleanSession(true).
			SetAutoReconnect(false).SetOrderMatters(false).SetMaxResumePubInFlight(1000)
		cl := mqtt.NewClient(opts)
		if tok := cl.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			b.Fatalf("connect: %v", tok.Error())
		}
		defer cl.Disconnect(100)
		wg.Go(func() {
			const tick = 10 * time.Millisecond
			per := perDevice * int(tick) / int(time.Second)
			tk := time.NewTicker(tick)
			defer tk.Stop()
			inflight := make(chan mqtt.Token, 1000)
			go func() {
				for tok := range inflight {
					if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
						failed.Add(1)
					}
				}
			}()
			defer close(inflight)
			for n := 0; time.Now().Before(stopAt); {
				<-tk.C
				for range per {
					n++
					p := fmt.Appendf(nil, "%s#%d#%d#", id, n, time.Now().UnixNano())
					for len(p) < 200 {
						p = append(p, '.')
					}
					inflight <- cl.Publish("telemetry/"+id+"/v", 1, false, p)
					published.Add(1)
				}
			}
		})
	}

	var mu sync.Mutex
	var lat []time.Duration
	var received atomic.Int64
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr), kgo.ConsumeTopics("telemetry"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second),
			kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(time.Second))
		if err != nil {
			b.Error(err)
			return
		}
		defer cl.Close()
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			now := time.Now().UnixNano()
			fs.EachRecord(func(r *kgo.Record) {
				f := strings.SplitN(string(r.Value), "#", 4)
				if len(f) < 4 {
					return
				}
				sent, err := strconv.ParseInt(f[2], 10, 64)
				if err != nil || sent < measureFrom {
					return
				}
				received.Add(1)
				mu.Lock()
				lat = append(lat, time.Duration(now-sent))
				mu.Unlock()
			})
		}
	}()
	wg.Wait()
	// Let the tail arrive.
	want := published.Load() - failed.Load()
	_ = testkit.Eventually(context.Background(), 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return int64(len(lat)) >= want*int64(dur)/int64(warm+dur)-int64(devices*perDevice/10)
	})
	cancel()
	<-consumerDone
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no measured record reached the consumer")
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	rate := float64(len(lat)) / dur.Seconds()
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(float64(q(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(q(0.999).Microseconds())/1000, "p99.9-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.Logf("%d records measured (%.0f/s), %d publishes failed; latency p50 %v p99 %v p99.9 %v max %v",
		len(lat), rate, failed.Load(), q(0.5), q(0.99), q(0.999), lat[len(lat)-1])
}

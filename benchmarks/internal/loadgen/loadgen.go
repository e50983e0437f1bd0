package loadgen

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/mqttc"
)

// Load is a publishing run.
type Load struct {
	Clients, PerClient, Inflight, Size int
	ClientBase                         int    // index of the first client (payload stamps, client IDs)
	Topic                              string // prefix: client i publishes to Topic/i; "" means "bench"
	// OnAck is called from client i's goroutine for each acknowledged
	// message (may be nil).
	OnAck func(client, seq int, sent, at time.Time)
	// Interval, if positive, paces each client to one message per Interval.
	Interval time.Duration
}

// Result is what a run measured.
type Result struct {
	Acked     int
	Elapsed   time.Duration
	Latencies []time.Duration // publish→ack of every acknowledged message
	Errors    int             // clients that failed
	FirstErr  error
}

// Rate is acknowledged messages per second.
func (r Result) Rate() float64 { return float64(r.Acked) / r.Elapsed.Seconds() }

// Run connects every client, then starts all at once, and returns when all
// have finished or failed. Only failing to connect is an error; a client
// failing later is counted in Result.
func (l Load) Run(ctx context.Context, addr string) (Result, error) {
	if l.Topic == "" {
		l.Topic = "bench"
	}
	conns := make([]*mqttc.Conn, l.Clients)
	for i := range conns {
		c, err := mqttc.Dial(ctx, addr, mqttc.Options{ClientID: fmt.Sprintf("pub-%d-%d", os.Getpid(), l.ClientBase+i), Clean: true})
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return Result{}, err
		}
		conns[i] = c
	}
	lat := make([][]time.Duration, l.Clients)
	errs := make([]error, l.Clients)
	acked := make([]int, l.Clients)
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			defer c.Close()
			id := l.ClientBase + i
			lat[i] = make([]time.Duration, 0, min(l.PerClient, 1<<20))
			acked[i], errs[i] = c.Publish(ctx, mqttc.Pipeline{
				Topic: fmt.Sprintf("%s/%d", l.Topic, id), N: l.PerClient, Inflight: l.Inflight, QoS: 1, Interval: l.Interval,
				Payload: func(seq int) []byte {
					return mqttc.Payload(mqttc.Stamp{Client: id, Seq: seq, Sent: time.Now()}, l.Size)
				},
				OnAck: func(seq int, sent, at time.Time) {
					lat[i] = append(lat[i], at.Sub(sent))
					if l.OnAck != nil {
						l.OnAck(id, seq, sent, at)
					}
				},
			})
		})
	}
	wg.Wait()
	res := Result{Elapsed: time.Since(start)}
	for i := range conns {
		res.Acked += acked[i]
		res.Latencies = append(res.Latencies, lat[i]...)
		if errs[i] != nil {
			res.Errors++
			if res.FirstErr == nil {
				res.FirstErr = errs[i]
			}
		}
	}
	return res, nil
}

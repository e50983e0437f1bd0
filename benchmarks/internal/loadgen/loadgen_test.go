package loadgen

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/testbroker"
)

// TestRunCountsEveryAck runs a small load against a real broker: every
// message is acknowledged once, with a latency, and OnAck sees each.
func TestRunCountsEveryAck(t *testing.T) {
	addr := testbroker.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[[2]int]int{}
	load := Load{Clients: 3, PerClient: 200, Inflight: 20, Size: 64, ClientBase: 7,
		OnAck: func(client, seq int, sent, at time.Time) {
			mu.Lock()
			seen[[2]int{client, seq}]++
			mu.Unlock()
		}}
	res, err := load.Run(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Acked != 600 || len(res.Latencies) != 600 || res.Rate() <= 0 {
		t.Fatalf("result %+v", res)
	}
	for c := 7; c < 10; c++ {
		for s := range 200 {
			if seen[[2]int{c, s}] != 1 {
				t.Fatalf("client %d message %d acknowledged %d times", c, s, seen[[2]int{c, s}])
			}
		}
	}
	paced := Load{Clients: 1, PerClient: 20, Inflight: 5, Size: 64, Interval: 5 * time.Millisecond}
	res, err = paced.Run(ctx, addr)
	if err != nil || res.Acked != 20 {
		t.Fatalf("paced run: %+v, %v", res, err)
	}
	if res.Elapsed < 19*5*time.Millisecond {
		t.Fatalf("paced run of 20 at 5 ms intervals took only %v", res.Elapsed)
	}
}

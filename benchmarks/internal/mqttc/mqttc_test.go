package mqttc

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/testbroker"
)

func TestPayloadRoundTrip(t *testing.T) {
	s := Stamp{Client: 17, Seq: 123456, Sent: time.Unix(1700000000, 123456789)}
	b := Payload(s, 200)
	if len(b) != 200 {
		t.Fatalf("payload is %d bytes, want 200", len(b))
	}
	got, err := ParsePayload(b)
	if err != nil || got.Key() != s.Key() || !got.Sent.Equal(s.Sent) {
		t.Fatalf("ParsePayload = %+v, %v; want %+v", got, err, s)
	}
	if short := Payload(s, 1); len(short) < 20 {
		t.Fatalf("a payload shorter than its header was truncated: %q", short)
	}
	for _, bad := range []string{"", "B", "x1:2:3|", "B1:2|", "B1:2:3", "B1:-2:3|", "B1:a:3|", "B1:2:3:4|"} {
		if _, err := ParsePayload([]byte(bad)); err == nil {
			t.Errorf("ParsePayload(%q) succeeded", bad)
		}
	}
}

// TestPublishConsume publishes a pipelined QoS 1 run to a real broker and
// checks that a subscriber receives every acknowledged message once.
func TestPublishConsume(t *testing.T) {
	addr := testbroker.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sub, err := Dial(ctx, addr, Options{ClientID: "sub", Clean: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Subscribe(ctx, "bench/#", 1); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	var mu sync.Mutex
	got := map[Key]int{}
	done := make(chan struct{})
	cctx, stop := context.WithCancel(ctx)
	go func() {
		defer close(done)
		_ = sub.Consume(cctx, func(m Message) {
			s, err := ParsePayload(m.Payload)
			if err != nil {
				t.Errorf("consumed %q: %v", m.Payload, err)
				return
			}
			mu.Lock()
			got[s.Key()]++
			mu.Unlock()
		})
	}()
	pub, err := Dial(ctx, addr, Options{ClientID: "pub", Clean: true})
	if err != nil {
		t.Fatal(err)
	}
	acked := map[int]bool{}
	k, err := pub.Publish(ctx, Pipeline{Topic: "bench/pub", N: n, Inflight: 50, QoS: 1,
		Payload: func(i int) []byte { return Payload(Stamp{Client: 3, Seq: i, Sent: time.Now()}, 100) },
		OnAck: func(i int, sent, at time.Time) {
			if at.Before(sent) || acked[i] {
				t.Errorf("ack %d: at %v before sent %v, or twice", i, at, sent)
			}
			acked[i] = true
		}})
	if err != nil || k != n || len(acked) != n {
		t.Fatalf("Publish = %d, %v; %d distinct acks; want %d", k, err, len(acked), n)
	}
	if err := pub.PublishSync(ctx, "bench/sync", 1, Payload(Stamp{Client: 4}, 50)); err != nil {
		t.Fatalf("PublishSync: %v", err)
	}
	_ = pub.Disconnect()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		c := len(got)
		mu.Unlock()
		if c == n+1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	for i := range n {
		if got[Key{3, i}] != 1 {
			t.Fatalf("message %d received %d times", i, got[Key{3, i}])
		}
	}
	if got[Key{4, 0}] != 1 {
		t.Fatal("the synchronous publish was not received")
	}
}

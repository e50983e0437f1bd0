package kafka

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/twmb/franz-go/pkg/kgo"
)

func produceN(t testing.TB, cl *kgo.Client, topic string, from, n int) {
	t.Helper()
	if err := cl.ProduceSync(testCtx(t), numbered(topic, from, n)...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// numbered returns records from..from+n-1 of topic as checkRecords
// expects them.
func numbered(topic string, from, n int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		k := from + i
		recs[i] = &kgo.Record{Topic: topic, Key: []byte("dev-" + strconv.Itoa(k%13)), Value: []byte(fmt.Sprintf("value-%d", k)),
			Headers: []kgo.RecordHeader{{Key: "n", Value: []byte(strconv.Itoa(k))}}}
	}
	return recs
}

// checkRecords verifies that recs are exactly values from..from+n-1, each
// once, in the partition of its key, with dense offsets per partition and
// headers intact.
func checkRecords(t testing.TB, recs []*kgo.Record, from, n, partitions int) {
	t.Helper()
	seen := map[int]bool{}
	lastOff := map[int32]int64{}
	for _, r := range recs {
		k, err := strconv.Atoi(string(r.Headers[0].Value))
		if err != nil || string(r.Value) != fmt.Sprintf("value-%d", k) {
			t.Fatalf("record %q with header %q", r.Value, r.Headers[0].Value)
		}
		if seen[k] {
			t.Fatalf("record %d consumed twice", k)
		}
		seen[k] = true
		if want := hub.PartitionForKey(r.Key, partitions); r.Partition != want {
			t.Fatalf("key %s in partition %d, want %d", r.Key, r.Partition, want)
		}
		if last, ok := lastOff[r.Partition]; ok && r.Offset != last+1 {
			t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, last)
		}
		lastOff[r.Partition] = r.Offset
	}
	for k := from; k < from+n; k++ {
		if !seen[k] {
			t.Fatalf("record %d missing", k)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d records, want %d", len(seen), n)
	}
}

func TestKgoProduceConsume(t *testing.T) {
	h := startHub(t, "", "", hub.Config{Partitions: 4}, Config{})
	prod := h.client()
	produceN(t, prod, "t", 0, 2000)
	cons := h.client(kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := consumeN(t, testCtx(t), cons, 2000)
	checkRecords(t, recs, 0, 2000, 4)
	// Long poll: a fetch waiting for data returns when it arrives.
	// The consumer may get the records before the producer gets its
	// acknowledgement: wait for both before the clients close.
	produced := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		produced <- prod.ProduceSync(testCtx(t), numbered("t", 2000, 10)...).FirstErr()
	}()
	more := consumeN(t, testCtx(t), cons, 10)
	if err := <-produced; err != nil {
		t.Fatalf("produce: %v", err)
	}
	checkRecords(t, more, 2000, 10, 4)
}

func TestKgoAcksModes(t *testing.T) {
	h := startHub(t, "", "", hub.Config{Partitions: 2}, Config{})
	for i, acks := range []kgo.Acks{kgo.NoAck(), kgo.LeaderAck(), kgo.AllISRAcks()} {
		topic := fmt.Sprintf("acks-%d", i)
		prod := h.client(kgo.RequiredAcks(acks), kgo.DisableIdempotentWrite())
		produceN(t, prod, topic, 0, 300)
		cons := h.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		checkRecords(t, consumeN(t, testCtx(t), cons, 300), 0, 300, 2)
	}
}

// TestKgoGroupCommitRestartResume consumes part of a topic in a group,
// commits, restarts the hub, and resumes from the committed offsets.
func TestKgoGroupCommitRestartResume(t *testing.T) {
	h := startHub(t, "", "", hub.Config{Partitions: 3}, Config{})
	produceN(t, h.client(), "g", 0, 600)
	ctx := testCtx(t)
	c1 := h.client(kgo.ConsumeTopics("g"), kgo.ConsumerGroup("grp"), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(5000), kgo.FetchMaxPartitionBytes(5000))
	first := consumeN(t, ctx, c1, 100)
	if err := c1.CommitRecords(ctx, first...); err != nil {
		t.Fatal(err)
	}
	committed := map[int32]int64{}
	for _, r := range first {
		if r.Offset+1 > committed[r.Partition] {
			committed[r.Partition] = r.Offset + 1
		}
	}
	c1.Close()
	dir, addr := h.dir, h.addr
	h.stop()

	h = startHub(t, dir, addr, hub.Config{Partitions: 3}, Config{})
	for p, off := range committed {
		got, ok := h.b.CommittedOffset("grp", "g", p)
		if !ok || got.Offset != off {
			t.Fatalf("partition %d: committed %d after restart, want %d", p, got.Offset, off)
		}
	}
	c2 := h.client(kgo.ConsumeTopics("g"), kgo.ConsumerGroup("grp"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	want := 600
	for _, off := range committed {
		want -= int(off)
	}
	rest := consumeN(t, ctx, c2, want)
	for _, r := range rest {
		if r.Offset < committed[r.Partition] {
			t.Fatalf("partition %d: offset %d consumed again below the committed %d", r.Partition, r.Offset, committed[r.Partition])
		}
	}
	checkRecords(t, append(first[:len(first):len(first)], rest...), 0, 600, 3)
}

// TestKgoRebalanceOnSecondMember starts one group member, then a second:
// the group rebalances, the partitions are split between them, and every
// record produced afterwards reaches exactly one of them.
func TestKgoRebalanceOnSecondMember(t *testing.T) {
	h := startHub(t, "", "", hub.Config{Partitions: 8}, Config{})
	prod := h.client()
	produceN(t, prod, "r", 0, 80)
	ctx := testCtx(t)
	var mu sync.Mutex
	assigned := map[string][]int32{}
	member := func(name string) *kgo.Client {
		return h.client(kgo.ConsumeTopics("r"), kgo.ConsumerGroup("rg"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.HeartbeatInterval(200*time.Millisecond), kgo.SessionTimeout(6*time.Second),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
				mu.Lock()
				assigned[name] = append(assigned[name], m["r"]...)
				mu.Unlock()
			}),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
				mu.Lock()
				var keep []int32
				for _, p := range assigned[name] {
					if !containsPartition(m["r"], p) {
						keep = append(keep, p)
					}
				}
				assigned[name] = keep
				mu.Unlock()
			}))
	}
	m1 := member("m1")
	first := consumeN(t, ctx, m1, 80)
	checkRecords(t, first, 0, 80, 8)
	if err := m1.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	m2 := member("m2")
	// Both members poll until the group settles with all 8 partitions
	// split between them.
	var got []*kgo.Record
	var gotMu sync.Mutex
	var wg sync.WaitGroup
	pollCtx, stopPolling := context.WithCancel(ctx)
	for _, m := range []*kgo.Client{m1, m2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pollCtx.Err() == nil {
				fs := m.PollFetches(pollCtx)
				gotMu.Lock()
				got = append(got, fs.Records()...)
				gotMu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		mu.Lock()
		a1, a2 := append([]int32(nil), assigned["m1"]...), append([]int32(nil), assigned["m2"]...)
		mu.Unlock()
		if len(a1) > 0 && len(a2) > 0 && len(a1)+len(a2) == 8 {
			all := append(a1, a2...)
			sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
			if fmt.Sprint(all) != "[0 1 2 3 4 5 6 7]" {
				t.Fatalf("partitions after rebalance: m1 %v m2 %v", a1, a2)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rebalance: m1 %v m2 %v", a1, a2)
		}
		time.Sleep(50 * time.Millisecond)
	}
	produceN(t, prod, "r", 80, 160)
	for {
		gotMu.Lock()
		n := len(got)
		gotMu.Unlock()
		if n >= 160 || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopPolling()
	wg.Wait()
	// Records after the commit point arrive once (members may re-read
	// uncommitted ones only if they were never committed: all were).
	checkRecords(t, got, 80, 160, 8)
	info := h.s.Groups().Describe("rg")
	if info.State != "Stable" || len(info.Members) != 2 || info.Protocol == "" {
		t.Fatalf("group after rebalance: %+v", info)
	}
}

func containsPartition(ps []int32, p int32) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

package kafka

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRetentionAndOutOfRange: with a short retention age and small
// segments, old segments go and the earliest offset moves; consumers
// positioned before it get OFFSET_OUT_OF_RANGE, handled by their reset
// policy (earliest, latest, or none: the error reaches the application).
func TestRetentionAndOutOfRange(t *testing.T) {
	h := startHub(t, "", "", hub.Config{Partitions: 1, SegmentBytes: 4096, RetentionAge: 30 * time.Minute, RetentionCheck: 50 * time.Millisecond}, Config{})
	ctx := testCtx(t)
	prod := h.client(kgo.ProducerLinger(0), kgo.MaxBufferedRecords(1))
	produce := func(from, n int, ts time.Time) {
		for i := from; i < from+n; i++ {
			r := &kgo.Record{Topic: "short", Value: []byte(fmt.Sprintf("%04d-%s", i, make([]byte, 200))), Timestamp: ts}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	adm := kadm.NewClient(h.client())
	// Two groups commit offset 0 before anything expires.
	produce(0, 60, time.Now().Add(-time.Hour)) // already older than the retention age
	for _, g := range []string{"earliest", "latest"} {
		if _, err := adm.CommitOffsets(ctx, g, kadm.Offsets{"short": {0: {Topic: "short", Partition: 0, At: 0}}}); err != nil {
			t.Fatal(err)
		}
	}
	produce(60, 40, time.Now())
	var start int64
	deadline := time.Now().Add(30 * time.Second)
	for start == 0 {
		if time.Now().After(deadline) {
			t.Fatal("retention never moved the log start offset")
		}
		time.Sleep(20 * time.Millisecond)
		so, err := adm.ListStartOffsets(ctx, "short")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := so.Lookup("short", 0)
		start = o.Offset
	}
	if start > 60 {
		t.Fatalf("retention deleted fresh data: log start %d, the fresh records begin at 60", start)
	}
	t.Logf("log start moved to %d", start)

	// Reset to earliest: resumes at the new log start.
	early := h.client(kgo.ConsumeTopics("short"), kgo.ConsumerGroup("earliest"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := consumeN(t, ctx, early, int(100-start))
	if recs[0].Offset != start || recs[len(recs)-1].Offset != 99 {
		t.Fatalf("earliest reset: offsets %d..%d, want %d..99", recs[0].Offset, recs[len(recs)-1].Offset, start)
	}
	// Reset to latest: skips to the end, then sees only new records.
	late := h.client(kgo.ConsumeTopics("short"), kgo.ConsumerGroup("latest"), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	go func() {
		time.Sleep(500 * time.Millisecond)
		produce(100, 1, time.Now())
	}()
	if recs := consumeN(t, ctx, late, 1); recs[0].Offset != 100 {
		t.Fatalf("latest reset: first offset %d, want 100", recs[0].Offset)
	}
	// No reset policy: the application sees OFFSET_OUT_OF_RANGE.
	strict := h.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"short": {0: kgo.NewOffset().At(0)}}), kgo.ConsumeResetOffset(kgo.NoResetOffset()))
	for {
		fs := strict.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no OFFSET_OUT_OF_RANGE for a consumer before the log start")
		}
		var got error
		fs.EachError(func(_ string, _ int32, err error) { got = err })
		if got != nil {
			if !errors.Is(got, kerr.OffsetOutOfRange) {
				t.Fatalf("fetch error %v, want OFFSET_OUT_OF_RANGE", got)
			}
			break
		}
		if len(fs.Records()) > 0 {
			t.Fatalf("a consumer before the log start read offset %d", fs.Records()[0].Offset)
		}
	}
}

package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/hub/store"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func fetchReq(topic string, offset int64, partMax, maxBytes, minBytes, waitMs int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = -1, waitMs, minBytes, maxBytes, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = offset, partMax
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// batchesIn counts the record batches in a fetched record set.
func batchesIn(t *testing.T, data []byte) int {
	t.Helper()
	n := 0
	for len(data) > 0 {
		info, err := store.ParseBatchHeader(data, len(data))
		if err != nil {
			t.Fatal(err)
		}
		data = data[info.Size:]
		n++
	}
	return n
}

// TestFetchLimits checks Fetch's byte limits and its long poll at the
// protocol level.
func TestFetchLimits(t *testing.T) {
	h := startHub(t, "", "", hub.Config{Partitions: 1}, Config{})
	ctx := testCtx(t)
	prod := h.client(kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := 0; i < 10; i++ { // ten batches of about 1 KiB
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "f", Value: make([]byte, 1000)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl := h.client()
	do := func(req *kmsg.FetchRequest) kmsg.FetchResponseTopicPartition {
		t.Helper()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	for name, tc := range map[string]struct {
		partMax, maxBytes int32
		want              int
	}{
		"at least one batch over every limit": {1, 1, 1},
		"partition max bytes":                 {2500, 1 << 20, 2},
		"request max bytes":                   {1 << 20, 3500, 3},
		"everything":                          {1 << 20, 1 << 20, 10},
	} {
		p := do(fetchReq("f", 0, tc.partMax, tc.maxBytes, 1, 0))
		if p.ErrorCode != 0 || batchesIn(t, p.RecordBatches) != tc.want || p.HighWatermark != 10 || p.LogStartOffset != 0 {
			t.Errorf("%s: error %d, %d batches (want %d), hw %d", name, p.ErrorCode, batchesIn(t, p.RecordBatches), tc.want, p.HighWatermark)
		}
	}
	if p := do(fetchReq("f", 11, 1<<20, 1<<20, 1, 0)); p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Errorf("fetch past the end: error %d", p.ErrorCode)
	}
	if p := do(fetchReq("nope", 0, 1<<20, 1<<20, 1, 0)); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic: error %d", p.ErrorCode)
	}
	// Long poll: a fetch at the end waits for MaxWait or MinBytes; a record
	// produced while it waits is in its answer.
	go func() {
		time.Sleep(200 * time.Millisecond)
		prod.ProduceSync(context.Background(), &kgo.Record{Topic: "f", Value: []byte("late")})
	}()
	if p := do(fetchReq("f", 10, 1<<20, 1<<20, 1, 20000)); p.ErrorCode != 0 || batchesIn(t, p.RecordBatches) != 1 {
		t.Fatalf("long poll: error %d, %d batches", p.ErrorCode, batchesIn(t, p.RecordBatches))
	}
	// MinBytes larger than what arrives: answered at MaxWait with what
	// there is.
	go func() {
		time.Sleep(100 * time.Millisecond)
		prod.ProduceSync(context.Background(), &kgo.Record{Topic: "f", Value: []byte("small")})
	}()
	if p := do(fetchReq("f", 11, 1<<20, 1<<20, 1<<20, 5000)); p.ErrorCode != 0 || batchesIn(t, p.RecordBatches) != 1 {
		t.Fatalf("min bytes: error %d, %d batches", p.ErrorCode, batchesIn(t, p.RecordBatches))
	}
}

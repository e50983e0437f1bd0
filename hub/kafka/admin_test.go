package kafka

import (
	"errors"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestAdminAPIs exercises the admin side with franz-go's kadm: create and
// delete topics with configs, describe configs, list offsets (earliest,
// latest, by time), list and describe groups, fetch committed offsets.
func TestAdminAPIs(t *testing.T) {
	h := startHub(t, "", "", hub.Config{Partitions: 2}, Config{})
	ctx := testCtx(t)
	adm := kadm.NewClient(h.client())
	created, err := adm.CreateTopics(ctx, 4, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000"), "segment.bytes": kadm.StringPtr("1048576")}, "made")
	if err != nil || created["made"].Err != nil {
		t.Fatalf("create: %v %v", err, created["made"].Err)
	}
	if tp, err := h.b.Topic("made"); err != nil || tp.Partitions() != 4 || tp.Config().RetentionAge != time.Hour || tp.Config().SegmentBytes != 1<<20 {
		t.Fatalf("created topic: %v %+v", err, tp.Config())
	}
	for name, tc := range map[string]struct {
		parts   int32
		rf      int16
		configs map[string]*string
		want    error
	}{
		"existing":           {1, 1, nil, kerr.TopicAlreadyExists},
		"replication factor": {1, 3, nil, kerr.InvalidReplicationFactor},
		"unknown config":     {1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, kerr.InvalidConfig},
		"bad name":           {1, 1, nil, kerr.InvalidTopicException},
	} {
		topic := "made"
		if name != "existing" {
			topic = "other"
		}
		if name == "bad name" {
			topic = "no/slash"
		}
		res, err := adm.CreateTopics(ctx, tc.parts, tc.rf, tc.configs, topic)
		if err != nil || !errors.Is(res[topic].Err, tc.want) {
			t.Errorf("%s: %v %v, want %v", name, err, res[topic].Err, tc.want)
		}
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, "made")
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := cfgs.On("made", nil)
	seen := map[string]string{}
	for _, c := range rc.Configs {
		seen[c.Key] = *c.Value
	}
	if seen["retention.ms"] != "3600000" || seen["cleanup.policy"] != "delete" {
		t.Fatalf("topic configs: %v", seen)
	}

	// Offsets by time: records at t0, t0+1000, t0+2000.
	cl := h.client(kgo.DefaultProduceTopic("made"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := 0; i < 3; i++ {
		r := &kgo.Record{Partition: 0, Value: []byte{byte(i)}, Timestamp: t0.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start, _ := adm.ListStartOffsets(ctx, "made")
	end, _ := adm.ListEndOffsets(ctx, "made")
	after, _ := adm.ListOffsetsAfterMilli(ctx, t0.Add(1500*time.Millisecond).UnixMilli(), "made")
	s0, _ := start.Lookup("made", 0)
	e0, _ := end.Lookup("made", 0)
	a0, _ := after.Lookup("made", 0)
	if s0.Offset != 0 || e0.Offset != 3 || a0.Offset != 2 {
		t.Fatalf("offsets: start %d end %d after-time %d, want 0 3 2", s0.Offset, e0.Offset, a0.Offset)
	}

	// A group member commits; list and describe see it.
	cons := h.client(kgo.ConsumeTopics("made"), kgo.ConsumerGroup("admins"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := consumeN(t, ctx, cons, 3)
	if err := cons.CommitRecords(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil || len(listed) != 1 || listed["admins"].State != "Stable" {
		t.Fatalf("list groups: %v %+v", err, listed)
	}
	described, err := adm.DescribeGroups(ctx, "admins")
	if err != nil || described["admins"].State != "Stable" || len(described["admins"].Members) != 1 {
		t.Fatalf("describe groups: %v %+v", err, described)
	}
	fetched, err := adm.FetchOffsets(ctx, "admins")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("made", 0); !ok || o.At != 3 {
		t.Fatalf("fetched offsets: %+v", fetched)
	}
	cons.Close()

	del, err := adm.DeleteTopics(ctx, "made", "never-was")
	if err != nil || del["made"].Err != nil || !errors.Is(del["never-was"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("delete: %v %+v", err, del)
	}
	if _, err := h.b.Topic("made"); !errors.Is(err, hub.ErrUnknownTopic) {
		t.Fatal("deleted topic still there")
	}
}

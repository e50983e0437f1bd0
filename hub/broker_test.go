package hub

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub/store"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestTopicForMQTT(t *testing.T) {
	for in, want := range map[string]string{
		"telemetry/dev-1/temp": "telemetry",
		"telemetry":            "telemetry",
		"/leading":             "_",
		"sp ace/x":             "sp_ace",
		"ünï/x":                "_n_",
		"..":                   "__",
		".":                    "_",
		"a.b_c-D9/x":           "a.b_c-D9",
	} {
		if got := TopicForMQTT(in); got != want {
			t.Errorf("TopicForMQTT(%q) = %q, want %q", in, got, want)
		}
		if err := ValidTopicName(TopicForMQTT(in)); err != nil {
			t.Errorf("%q maps to an invalid name: %v", in, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a b", string(make([]byte, 250))} {
		if ValidTopicName(bad) == nil {
			t.Errorf("ValidTopicName(%q) accepted", bad)
		}
	}
}

func TestRoutes(t *testing.T) {
	cfg := Config{Routes: []Route{{Filter: "alerts/+/fire", Topic: "fire"}, {Filter: "sensors/#", Topic: "readings"}}}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"alerts/dev-1/fire": "fire", "alerts/dev-1/smoke": "alerts", "sensors": "readings",
		"sensors/a/b/c": "readings", "other/x": "other",
	} {
		if got := cfg.route(in); got != want {
			t.Errorf("route(%q) = %q, want %q", in, got, want)
		}
	}
	bad := Config{Routes: []Route{{Filter: "a/#/b", Topic: "x"}}}
	if err := bad.validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad filter accepted: %v", err)
	}
}

// TestPartitionerMatchesKafkaClients checks the partitioner against
// franz-go's default (Kafka-compatible) key partitioner and Kafka's own
// murmur2 test vectors.
func TestPartitionerMatchesKafkaClients(t *testing.T) {
	for in, want := range map[string]int32{
		"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536,
		"a-little-bit-longer-string": -1486304829, "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, "abc": 479470107,
	} {
		if got := Murmur2([]byte(in)); got != want {
			t.Errorf("Murmur2(%q) = %d, want %d", in, got, want)
		}
	}
	kp := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for i := 0; i < 2000; i++ {
		key := []byte(fmt.Sprintf("device-%d-%s", i, string(rune('a'+i%26))))
		for _, n := range []int{1, 3, 8, 13} {
			if got, want := PartitionForKey(key, n), kp.Partition(&kgo.Record{Key: key}, n); int(got) != want {
				t.Fatalf("key %q over %d partitions: %d, franz-go says %d", key, n, got, want)
			}
		}
	}
}

func TestTopicsPersistAndDelete(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b := openTestBroker(t, Config{Dir: dir, Partitions: 3, Topics: map[string]TopicConfig{"big": {Partitions: 5}}})
	if tp, err := b.Topic("big"); err != nil || tp.Partitions() != 5 {
		t.Fatalf("configured topic: %v", err)
	}
	if _, err := b.CreateTopic(ctx, "small", TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateTopic(ctx, "small", TopicConfig{}); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := b.CreateTopic(ctx, "bad name", TopicConfig{}); !errors.Is(err, ErrInvalidTopic) {
		t.Fatalf("bad name: %v", err)
	}
	tp, created, err := b.EnsureTopic(ctx, "auto")
	if err != nil || !created || tp.Partitions() != 3 {
		t.Fatalf("auto-create: %v %v", created, err)
	}
	if _, err := b.Produce(ctx, "auto", 1, testKafkaBatch(t, -1, 0, 0, 3), 1); err != nil {
		t.Fatal(err)
	}
	if err := b.CommitOffsets(ctx, "g", map[TopicPartition]CommittedOffset{{"auto", 1}: {Offset: 2}, {"small", 0}: {Offset: 0}}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteTopic(ctx, "auto"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "topics", "auto")); !os.IsNotExist(err) {
		t.Fatalf("deleted topic's directory remains: %v", err)
	}
	if _, ok := b.CommittedOffset("g", "auto", 1); ok {
		t.Fatal("offsets of a deleted topic remain")
	}
	b.Close()
	// A directory without a topic record (a crash during create) goes.
	os.MkdirAll(filepath.Join(dir, "topics", "orphan", "0"), 0o755)
	b = openTestBroker(t, Config{Dir: dir, Partitions: 3})
	defer b.Close()
	var names []string
	for _, tp := range b.Topics() {
		names = append(names, fmt.Sprintf("%s:%d", tp.Name(), tp.Partitions()))
	}
	if fmt.Sprint(names) != "[big:5 small:3]" {
		t.Fatalf("topics after restart: %v", names)
	}
	if _, err := os.Stat(filepath.Join(dir, "topics", "orphan")); !os.IsNotExist(err) {
		t.Fatal("orphan topic directory not removed")
	}
	if c, ok := b.CommittedOffset("g", "small", 0); !ok || c.Offset != 0 {
		t.Fatal("committed offset lost over restart")
	}
	if _, err := Open(Config{Dir: dir}); err == nil {
		t.Fatal("a second broker opened the same directory")
	}
}

// testKafkaBatch is an uncompressed batch of n records as a Kafka producer
// sends it (pid -1: not idempotent).
func testKafkaBatch(t testing.TB, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	recs := make([]store.Record, n)
	for i := range recs {
		recs[i] = store.Record{Timestamp: time.Now().UnixMilli(), Key: []byte("k"), Value: []byte(fmt.Sprint(seq + int32(i)))}
	}
	b := store.AppendProducerBatch(nil, pid, recs)
	// Set the producer epoch and base sequence and re-sign the batch.
	if pid >= 0 {
		b = resign(b, epoch, seq)
	}
	return b
}

func TestIdempotentProduce(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b := openTestBroker(t, Config{Dir: dir, Partitions: 1})
	if _, _, err := b.EnsureTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	pid, err := b.NewProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		epoch int16
		seq   int32
		n     int
		want  error
	}{
		{0, 0, 3, nil},
		{0, 3, 2, nil},
		{0, 3, 2, ErrDuplicateSequence}, // a retry of the last batch
		{0, 0, 3, ErrDuplicateSequence}, // an older one
		{0, 9, 1, ErrOutOfOrderSequence},
		{1, 4, 1, ErrOutOfOrderSequence}, // a new epoch starts at 0
		{1, 0, 2, nil},
		{0, 5, 1, ErrProducerFenced},
	}
	run := func(b *Broker) {
		for i, s := range steps {
			_, err := b.Produce(ctx, "t", 0, testKafkaBatch(t, pid, s.epoch, s.seq, s.n), -1)
			if !errors.Is(err, s.want) {
				t.Fatalf("step %d: %v, want %v", i, err, s.want)
			}
		}
	}
	run(b)
	b.Close()
	// The producer state is rebuilt from the log: the same steps after a
	// restart all fail as duplicates or fenced.
	b = openTestBroker(t, Config{Dir: dir, Partitions: 1})
	defer b.Close()
	if _, err := b.Produce(ctx, "t", 0, testKafkaBatch(t, pid, 1, 0, 2), -1); !errors.Is(err, ErrDuplicateSequence) {
		t.Fatalf("retry after restart: %v", err)
	}
	if _, err := b.Produce(ctx, "t", 0, testKafkaBatch(t, pid, 1, 2, 1), -1); err != nil {
		t.Fatalf("next batch after restart: %v", err)
	}
	if _, err := b.Produce(ctx, "t", 0, testKafkaBatch(t, IngestProducerID, 0, 0, 1), -1); !errors.Is(err, ErrInvalidProducerID) {
		t.Fatalf("forged ingest producer: %v", err)
	}
	if pid2, _ := b.NewProducerID(ctx); pid2 <= pid {
		t.Fatalf("producer ID %d reused after restart (had %d)", pid2, pid)
	}
	if recs := readTopic(t, b, "t"); len(recs) != 8 {
		t.Fatalf("%d records stored, want 8", len(recs))
	}
}

func TestBrokerRetention(t *testing.T) {
	b := openTestBroker(t, Config{Partitions: 1, SegmentBytes: 2048, RetentionAge: time.Hour})
	defer b.Close()
	ctx := context.Background()
	if _, _, err := b.EnsureTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		if _, err := b.Produce(ctx, "t", 0, testKafkaBatch(t, -1, 0, 0, 5), 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.RunRetention(time.Now()); n != 0 {
		t.Fatalf("retention deleted %d fresh segments", n)
	}
	if n := b.RunRetention(time.Now().Add(2 * time.Hour)); n == 0 {
		t.Fatal("retention deleted nothing old")
	}
	p, _ := b.Partition("t", 0)
	if start, hw, _ := p.Offsets(); start != 200 || hw != 200 {
		t.Fatalf("after retention: start %d hw %d, want 200", start, hw)
	}
}

// TestTopicSettingsFollowConfig: a topic's partition count is fixed at
// creation, settings given explicitly by CreateTopics stay, and the rest
// follow the hub's configuration at each start.
func TestTopicSettingsFollowConfig(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b := openTestBroker(t, Config{Dir: dir, Partitions: 2})
	if _, _, err := b.EnsureTopic(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateTopic(ctx, "pinned", TopicConfig{RetentionAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = openTestBroker(t, Config{Dir: dir, Partitions: 5, RetentionAge: 48 * time.Hour,
		Topics: map[string]TopicConfig{"plain": {Partitions: 9, RetentionBytes: 1 << 30}}})
	defer b.Close()
	plain, _ := b.Topic("plain")
	pinned, _ := b.Topic("pinned")
	if c := plain.Config(); plain.Partitions() != 2 || c.RetentionAge != 48*time.Hour || c.RetentionBytes != 1<<30 {
		t.Fatalf("plain after a config change: %d partitions, %+v", plain.Partitions(), c)
	}
	if c := pinned.Config(); pinned.Partitions() != 2 || c.RetentionAge != time.Hour {
		t.Fatalf("pinned after a config change: %d partitions, %+v", pinned.Partitions(), c)
	}
}

// TestProduceRefusesMalformedRecords: a batch with a valid CRC but records
// a consumer could not read (or would misnumber) is refused, not stored.
func TestProduceRefusesMalformedRecords(t *testing.T) {
	b := openTestBroker(t, Config{Partitions: 1})
	defer b.Close()
	ctx := context.Background()
	if _, _, err := b.EnsureTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	good := testKafkaBatch(t, -1, 0, 0, 3)
	for name, mutate := range map[string]func([]byte) []byte{
		"count beyond records": func(b []byte) []byte { b[60]++; return b },
		"trailing bytes": func(b []byte) []byte {
			b = append(b, 0)
			binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
			return b
		},
		"offset delta": func(b []byte) []byte {
			b[61+1+1+1] = 4 // second varint of record 0: offset delta 2 (zigzag 4)
			return b
		},
	} {
		bad := mutate(append([]byte(nil), good...))
		bad = resign(bad, int16(binary.BigEndian.Uint16(bad[51:])), int32(binary.BigEndian.Uint32(bad[53:])))
		if _, err := b.Produce(ctx, "t", 0, bad, 1); !errors.Is(err, store.ErrBadBatch) {
			t.Errorf("%s: %v, want ErrBadBatch", name, err)
		}
	}
	if _, err := b.Produce(ctx, "t", 0, good, 1); err != nil {
		t.Fatal(err)
	}
	if recs := readTopic(t, b, "t"); len(recs) != 3 {
		t.Fatalf("%d records stored, want the 3 of the good batch", len(recs))
	}
}

// TestFsyncPolicies: under interval and never, a write is readable at once
// (not waiting for an fsync); under interval the background fsync still
// runs.
func TestFsyncPolicies(t *testing.T) {
	for _, pol := range []store.SyncPolicy{store.SyncInterval, store.SyncNever} {
		b := openTestBroker(t, Config{Partitions: 1, Fsync: pol, FsyncInterval: 10 * time.Millisecond})
		ctx := context.Background()
		if _, _, err := b.EnsureTopic(ctx, "t"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Produce(ctx, "t", 0, testKafkaBatch(t, -1, 0, 0, 2), 1); err != nil {
			t.Fatal(err)
		}
		if recs := readTopic(t, b, "t"); len(recs) != 2 {
			t.Fatalf("policy %d: %d records readable", pol, len(recs))
		}
		if _, err := b.Merge(ctx, "a", testEpoch, deviceRecords(1, 5, 2)); err != nil {
			t.Fatalf("policy %d: merge: %v", pol, err)
		}
		b.Close()
	}
}

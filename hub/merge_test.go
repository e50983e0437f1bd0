package hub

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/edgelog/edgelog/internal/faultfs"
)

const testEpoch = "0123456789abcdef0123456789abcdef"

func TestMergeDropsDuplicatesAndKeepsDeviceOrder(t *testing.T) {
	b := openTestBroker(t, Config{})
	defer b.Close()
	ctx := context.Background()
	if r := b.AgentResume("a1", testEpoch); r != 1 {
		t.Fatalf("resume of an unknown agent = %d, want 1", r)
	}
	got, err := b.Merge(ctx, "a1", testEpoch, deviceRecords(1, 100, 7))
	if err != nil || got != 100 {
		t.Fatalf("merge 1..100: %d %v", got, err)
	}
	// A retransmission overlapping what was merged.
	got, err = b.Merge(ctx, "a1", testEpoch, deviceRecords(50, 150, 7))
	if err != nil || got != 150 {
		t.Fatalf("merge 50..150: %d %v", got, err)
	}
	// Entirely old.
	if got, err = b.Merge(ctx, "a1", testEpoch, deviceRecords(10, 20, 7)); err != nil || got != 150 {
		t.Fatalf("merge of old records: %d %v", got, err)
	}
	checkExactlyOnce(t, readTopic(t, b, "telemetry"), "a1", 150, 7)
	if r := b.AgentResume("a1", testEpoch); r != 151 {
		t.Fatalf("resume = %d, want 151", r)
	}
	// A new WAL epoch starts over at 1 and is stored apart.
	if r := b.AgentResume("a1", "ffffffffffffffffffffffffffffffff"); r != 1 {
		t.Fatalf("resume of a new epoch = %d, want 1", r)
	}
	ags := b.Agents()
	if len(ags) != 1 || ags[0].AckedSeq != 150 || ags[0].Merged != 150 || ags[0].Duplicates != 62 {
		t.Fatalf("agent status %+v", ags)
	}
}

func TestMergeSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := openTestBroker(t, Config{Dir: dir})
	ctx := context.Background()
	if _, err := b.Merge(ctx, "a1", testEpoch, deviceRecords(1, 40, 5)); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = openTestBroker(t, Config{Dir: dir})
	defer b.Close()
	if r := b.AgentResume("a1", testEpoch); r != 41 {
		t.Fatalf("resume after restart = %d, want 41", r)
	}
	if _, err := b.Merge(ctx, "a1", testEpoch, deviceRecords(30, 60, 5)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, readTopic(t, b, "telemetry"), "a1", 60, 5)
	if ags := b.Agents(); len(ags) != 1 || ags[0].AckedSeq != 60 {
		t.Fatalf("agents after restart: %+v", ags)
	}
}

// TestMergeRetryAfterPartialWrite fills the disk in the middle of a merge
// that spans several partitions: some are written, the merge fails, the
// watermark stays. The agent resends from AgentResume and every record ends
// up stored exactly once.
func TestMergeRetryAfterPartialWrite(t *testing.T) {
	ffs := faultfs.New()
	b := openTestBroker(t, Config{FS: ffs})
	defer b.Close()
	ctx := context.Background()
	if _, err := b.Merge(ctx, "a1", testEpoch, deviceRecords(1, 50, 7)); err != nil {
		t.Fatal(err)
	}
	ffs.SetWriteBudget(7000) // a few partitions' worth
	_, err := b.Merge(ctx, "a1", testEpoch, deviceRecords(51, 200, 7))
	if err == nil {
		t.Fatal("merge on a full disk succeeded")
	}
	t.Log(err)
	ffs.SetWriteBudget(-1)
	if _, err := b.Merge(ctx, "a1", testEpoch, deviceRecords(201, 210, 7)); !errors.Is(err, ErrMergeAborted) {
		t.Fatalf("merge after a failure without resuming: %v, want ErrMergeAborted", err)
	}
	resume := b.AgentResume("a1", testEpoch)
	if resume != 51 {
		t.Fatalf("resume = %d, want 51", resume)
	}
	tp, _ := b.Topic("telemetry")
	var written int64
	for i := 0; i < tp.Partitions(); i++ {
		_, _, end := tp.Partition(int32(i)).Offsets()
		written += end
	}
	if written <= 50 || written >= 200 {
		t.Fatalf("%d records written; the test needs a partial write", written)
	}
	got, err := b.Merge(ctx, "a1", testEpoch, deviceRecords(resume, 210, 7))
	if err != nil || got != 210 {
		t.Fatalf("resent merge: %d %v", got, err)
	}
	checkExactlyOnce(t, readTopic(t, b, "telemetry"), "a1", 210, 7)
}

// TestPipelinedMerges starts merges back to back from one goroutine, as a
// sync session with several batches in flight does, while other agents
// merge concurrently.
func TestPipelinedMerges(t *testing.T) {
	b := openTestBroker(t, Config{})
	defer b.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, agent := range []string{"a1", "a2", "a3"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pending []*PendingMerge
			for s := uint64(1); s <= 1000; s += 50 {
				pm, err := b.StartMerge(ctx, agent, testEpoch, deviceRecords(s, s+49, 9))
				if err != nil {
					t.Error(err)
					return
				}
				pending = append(pending, pm)
			}
			var last uint64
			for _, pm := range pending {
				through, err := pm.Wait(ctx)
				if err != nil || through <= last {
					t.Errorf("%s: through %d after %d: %v", agent, through, last, err)
				}
				last = through
			}
		}()
	}
	wg.Wait()
	recs := readTopic(t, b, "telemetry")
	for _, agent := range []string{"a1", "a2", "a3"} {
		checkExactlyOnce(t, recs, agent, 1000, 9)
	}
}

func TestMergeRejectsBadInput(t *testing.T) {
	b := openTestBroker(t, Config{})
	defer b.Close()
	ctx := context.Background()
	bad := deviceRecords(1, 3, 2)
	bad[2].Seq = 2
	huge := deviceRecords(1, 1, 1)
	huge[0].Rec.Topic = ""
	for name, tc := range map[string]struct {
		agent, epoch string
		recs         []AgentRecord
		want         error
	}{
		"empty agent":     {"", testEpoch, deviceRecords(1, 1, 1), ErrInvalidAgent},
		"epoch with /":    {"a", "x/y", deviceRecords(1, 1, 1), ErrInvalidAgent},
		"no records":      {"a", testEpoch, nil, ErrInvalidMerge},
		"not increasing":  {"a", testEpoch, bad, ErrInvalidMerge},
		"invalid record":  {"a", testEpoch, huge, ErrInvalidMerge},
		"seq 0 is unused": {"a", testEpoch, []AgentRecord{{Seq: 0, Rec: deviceRecord(1, 1).Rec}}, ErrInvalidMerge},
	} {
		if _, err := b.Merge(ctx, tc.agent, tc.epoch, tc.recs); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

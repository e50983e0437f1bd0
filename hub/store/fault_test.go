package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/faultfs"
)

func TestMarksSurviveRetentionAndReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := PartitionConfig{SegmentBytes: 300, Marks: agentMarks}
	p, err := OpenPartition(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, p, 6, 2) // marks up to 11, several segments
	if n, err := p.Retain(time.Now().Add(time.Hour), time.Minute, 0); err != nil || n == 0 {
		t.Fatalf("retain: %d %v", n, err)
	}
	if start, _, end := p.Offsets(); start != end {
		t.Fatalf("log not emptied: start %d end %d", start, end)
	}
	p.Close()
	p, err = OpenPartition(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if s, ok := p.ProducerSeq("a1"); !ok || s != 11 {
		t.Fatalf("mark after retention and reopen: %d %v, want 11", s, ok)
	}
	if start, _, end := p.Offsets(); start != 12 || end != 12 {
		t.Fatalf("offsets after reopen: start %d end %d, want 12", start, end)
	}
}

func TestWriteProducerCheckIsAtomic(t *testing.T) {
	p, err := OpenPartition(t.TempDir(), PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	errDup := errors.New("duplicate")
	// 8 writers race to write sequences 0..99 for one producer; the check
	// admits only mark+1, so each sequence lands exactly once.
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := int64(0); seq < 100; seq++ {
				b, infos := testBatch(t, int(seq), 1, 1)
				p.WriteProducer(b, infos, "x", func(cur int64, known bool) (int64, error) {
					if (!known && seq == 0) || (known && seq == cur+1) {
						return seq, nil
					}
					return 0, errDup
				})
			}
		}()
	}
	wg.Wait()
	if _, _, end := p.Offsets(); end != 100 {
		t.Fatalf("%d records written, want 100", end)
	}
}

func TestFsyncFailureIsSticky(t *testing.T) {
	ffs := faultfs.New()
	p, err := OpenPartition(t.TempDir(), PartitionConfig{FS: ffs})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	writeN(t, p, 1, 1)
	ffs.SetSyncFault(0, faultfs.ErrInjected)
	b, infos := testBatch(t, 1, 1, 1)
	if _, err := p.Append(context.Background(), b, infos); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("append with failing fsync: %v", err)
	}
	ffs.SetSyncFault(0, nil)
	b, infos = testBatch(t, 2, 1, 1)
	if _, err := p.Append(context.Background(), b, infos); err == nil {
		t.Fatal("append after a failed fsync succeeded")
	}
	if _, hw, _ := p.Offsets(); hw != 1 {
		t.Fatalf("high watermark %d: the unsynced record became readable", hw)
	}
}

func TestDiskFullLeavesLogWellFormed(t *testing.T) {
	dir := t.TempDir()
	ffs := faultfs.New()
	p, err := OpenPartition(dir, PartitionConfig{FS: ffs})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, p, 2, 2)
	ffs.SetWriteBudget(30) // a short write, then ENOSPC
	b, infos := testBatch(t, 4, 2, 1)
	if _, err := p.Append(context.Background(), b, infos); err == nil {
		t.Fatal("append on a full disk succeeded")
	}
	ffs.SetWriteBudget(-1)
	writeN(t, p, 1, 2)
	if got := readAll(t, p); len(got) != 6 {
		t.Fatalf("after disk full and recovery: %d records, want 6", len(got))
	}
	p.Close()
	p, err = OpenPartition(dir, PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := readAll(t, p); len(got) != 6 || p.TruncatedBytes() != 0 {
		t.Fatalf("reopen: %d records, %d bytes truncated", len(got), p.TruncatedBytes())
	}
}

// TestPowerLoss cuts power (faultfs) with writes that were never made
// durable: what WaitDurable confirmed survives, in order, with its marks.
func TestPowerLoss(t *testing.T) {
	for _, mode := range []faultfs.CrashMode{faultfs.DropUnsynced, faultfs.TearUnsynced, faultfs.ZeroUnsynced} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			dir := t.TempDir()
			ffs := faultfs.New()
			cfg := PartitionConfig{FS: ffs, SegmentBytes: 500, Marks: agentMarks}
			p, err := OpenPartition(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			writeN(t, p, 7, 3) // durable: 21 records
			for i := 0; i < 3; i++ {
				b, infos := testBatch(t, 21+i*2, 2, 1)
				last := int64(21 + i*2 + 1)
				p.WriteProducer(b, infos, "a1", func(int64, bool) (int64, error) { return last, nil })
			}
			if err := ffs.Crash(mode); err != nil {
				t.Fatal(err)
			}
			cfg.FS = nil
			p2, err := OpenPartition(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p2.Close()
			got := readAll(t, p2)
			if len(got) < 21 || len(got) > 27 || len(got)%2 == 0 {
				t.Fatalf("%d records after power loss, want 21 durable plus whole unsynced batches", len(got))
			}
			for i, v := range got {
				if v != fmt.Sprintf("value-%d", i) {
					t.Fatalf("record %d = %q", i, v)
				}
			}
			if s, _ := p2.ProducerSeq("a1"); s != int64(len(got)-1) {
				t.Fatalf("mark %d after power loss, want %d (last surviving record)", s, len(got)-1)
			}
		})
	}
}

func TestKVGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.kv")
	ffs := faultfs.New()
	var syncs sync.Map
	n := 0
	var mu sync.Mutex
	ffs.SetSyncHook(func(string) { mu.Lock(); n++; mu.Unlock() })
	k, err := OpenKV(ffs, path)
	if err != nil {
		t.Fatal(err)
	}
	ffs.SetSyncFault(2*time.Millisecond, nil)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				key := fmt.Sprintf("g%d/%d", g, i)
				if err := k.Put(context.Background(), KVEntry{Key: key, Value: []byte(key)}); err != nil {
					t.Error(err)
				}
				syncs.Store(key, true)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	fsyncs := n
	mu.Unlock()
	if fsyncs >= 320 {
		t.Errorf("%d fsyncs for 320 concurrent puts: no group commit", fsyncs)
	}
	if err := ffs.Crash(faultfs.DropUnsynced); err != nil {
		t.Fatal(err)
	}
	k2, err := OpenKV(nil, path)
	if err != nil {
		t.Fatal(err)
	}
	defer k2.Close()
	syncs.Range(func(key, _ any) bool {
		if v, ok := k2.Get(key.(string)); !ok || string(v) != key {
			t.Errorf("acknowledged put %s lost", key)
		}
		return true
	})
}

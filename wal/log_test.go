package wal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRoundTripAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: 8 << 10})
	if l.Next() != 1 || l.First() != 1 {
		t.Fatalf("new log: first %d next %d, want 1 1", l.First(), l.Next())
	}
	appendN(t, l, 500)
	if first, last := readAll(t, l); first != 1 || last != 500 {
		t.Fatalf("read %d..%d, want 1..500", first, last)
	}
	epoch := l.Epoch()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openT(t, dir, Options{SegmentSize: 8 << 10})
	defer l.Close()
	if l.Epoch() != epoch || len(epoch) != 32 {
		t.Errorf("epoch changed across reopen: %q → %q", epoch, l.Epoch())
	}
	if got := len(l.segmentPaths()); got < 5 {
		t.Errorf("expected several segments with 8KiB segments, got %d", got)
	}
	if first, last := readAll(t, l); first != 1 || last != 500 {
		t.Fatalf("after reopen read %d..%d, want 1..500", first, last)
	}
	appendN(t, l, 10)
	if _, last := readAll(t, l); last != 510 {
		t.Fatalf("last = %d, want 510", last)
	}
	if l.Recovery().Repaired() {
		t.Errorf("clean reopen reported a repair: %+v", l.Recovery())
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	defer l.Close()
	if _, err := Open(dir, Options{Logger: quietLogger()}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

func TestConcurrentAppendersEveryAckedRecordSurvives(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: 64 << 10})
	const writers, each = 64, 100
	var mu sync.Mutex
	acked := map[uint64][]byte{}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				p := []byte{byte(w), byte(i), 'x', byte(w ^ i)}
				seq, err := l.Append(context.Background(), p)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[seq] = p
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	st := l.Stats()
	if st.Fsyncs >= writers*each {
		t.Errorf("no group commit: %d fsyncs for %d appends", st.Fsyncs, writers*each)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openT(t, dir, Options{SegmentSize: 64 << 10})
	defer l.Close()
	r, _ := l.NewReader(1)
	defer r.Close()
	n := 0
	for {
		seq, p, ok, err := r.TryNext()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if string(acked[seq]) != string(p) {
			t.Fatalf("seq %d: got %v want %v", seq, p, acked[seq])
		}
		n++
	}
	if n != len(acked) || n != writers*each {
		t.Fatalf("reopened log has %d records, acked %d", n, len(acked))
	}
}

func TestReaderTailsWhileAppending(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentSize: 16 << 10})
	defer l.Close()
	const total = 3000
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		r, err := l.NewReader(1)
		if err != nil {
			errc <- err
			return
		}
		defer r.Close()
		for want := uint64(1); want <= total; want++ {
			seq, p, err := r.Next(ctx)
			if err != nil {
				errc <- err
				return
			}
			if seq != want || string(p) != string(payloadFor(seq)) {
				errc <- errors.New("reader saw wrong record")
				return
			}
		}
		errc <- nil
	}()
	for i := 0; i < total; i++ {
		seq := l.Next()
		if _, err := l.AppendAsync(ctx, payloadFor(seq), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestReaderWaitsUntilDurableUnderNever(t *testing.T) {
	l := openT(t, t.TempDir(), Options{Fsync: FsyncNever})
	defer l.Close()
	if _, err := l.Append(context.Background(), payloadFor(1)); err != nil {
		t.Fatal(err)
	}
	r, _ := l.NewReader(1)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seq, _, err := r.Next(ctx) // must trigger the fsync it needs
	if err != nil || seq != 1 {
		t.Fatalf("Next: %d %v", seq, err)
	}
	if l.Durable() < 1 {
		t.Fatal("reader returned a record that is not durable")
	}
}

func TestTruncateFrontAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	o := Options{SegmentSize: 4 << 10}
	l := openT(t, dir, o)
	appendN(t, l, 400)
	before := len(l.segmentPaths())
	sizeBefore := l.Size()
	if err := l.TruncateFront(250); err != nil {
		t.Fatal(err)
	}
	after := l.segmentPaths()
	if len(after) >= before {
		t.Fatalf("segments %d → %d: nothing removed", before, len(after))
	}
	if l.First() != 250 {
		t.Fatalf("First = %d, want 250", l.First())
	}
	if l.Size() >= sizeBefore {
		t.Errorf("size did not shrink: %d → %d", sizeBefore, l.Size())
	}
	if _, err := l.NewReader(249); !errors.Is(err, ErrCompacted) {
		t.Errorf("reader below first: %v, want ErrCompacted", err)
	}
	if first, last := readAll(t, l); first != 250 || last != 400 {
		t.Fatalf("read %d..%d, want 250..400", first, last)
	}
	onDisk, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(onDisk) != len(after) {
		t.Errorf("files on disk %d, log says %d", len(onDisk), len(after))
	}
	// Truncating past the end empties the log but keeps the sequence.
	if err := l.TruncateFront(10_000); err != nil {
		t.Fatal(err)
	}
	if l.First() != 401 || l.Next() != 401 {
		t.Fatalf("after truncating everything: first %d next %d, want 401 401", l.First(), l.Next())
	}
	appendN(t, l, 1)
	l.Close()
	l = openT(t, dir, o)
	defer l.Close()
	if l.Next() != 402 {
		t.Fatalf("reopen Next = %d, want 402", l.Next())
	}
	// Front truncation inside the active segment is not persisted: after a
	// reopen the log starts at that segment's first record.
	if first, last := readAll(t, l); first < 250 || first > 401 || last != 401 {
		t.Fatalf("after reopen read %d..%d", first, last)
	}
}

func TestRecordTooLargeIsRefused(t *testing.T) {
	l := openT(t, t.TempDir(), Options{MaxRecordSize: 100})
	defer l.Close()
	if _, err := l.Append(context.Background(), make([]byte, 101)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if l.Next() != 1 {
		t.Fatal("refused record consumed a sequence")
	}
}

func TestAppendAfterCloseFails(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	l.Close()
	if _, err := l.Append(context.Background(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
}

func TestMissingMetaGetsNewEpoch(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	appendN(t, l, 3)
	old := l.Epoch()
	l.Close()
	if err := os.Remove(filepath.Join(dir, metaFile)); err != nil {
		t.Fatal(err)
	}
	l = openT(t, dir, Options{})
	defer l.Close()
	if l.Epoch() == old || !l.Recovery().NewEpoch {
		t.Fatalf("epoch %q (was %q), recovery %+v", l.Epoch(), old, l.Recovery())
	}
	if _, last := readAll(t, l); last != 3 {
		t.Fatalf("records lost: last %d", last)
	}
}

// TestIntervalPolicyFsyncsOnItsOwnAndRarely: under FsyncInterval appends are
// made durable without anyone asking, and far fewer fsyncs run than commits.
func TestIntervalPolicyFsyncsOnItsOwnAndRarely(t *testing.T) {
	const interval = 50 * time.Millisecond
	l := openT(t, t.TempDir(), Options{Fsync: FsyncInterval, FsyncInterval: interval})
	defer l.Close()
	start := time.Now()
	var last uint64
	for i := 0; i < 300; i++ {
		seq, err := l.Append(context.Background(), payloadFor(uint64(i+1)))
		if err != nil {
			t.Fatal(err)
		}
		last = seq
	}
	deadline := time.Now().Add(30 * time.Second)
	for l.Durable() < last {
		if time.Now().After(deadline) {
			t.Fatalf("durable %d, want %d: the interval fsync never ran", l.Durable(), last)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Each of the 300 appends was its own commit; the policy allows one
	// fsync per interval (plus the first and the last).
	if got, limit := l.Stats().Fsyncs, int64(time.Since(start)/interval)+2; got > limit {
		t.Fatalf("%d fsyncs for 300 commits in %v; at most %d allowed", got, time.Since(start), limit)
	}
}

// TestTruncateFrontDiskFullDropOldest is the regression test of the
// disk-full drop-oldest scenario: a log truncated to its end (the hub held
// everything), whose next append starts a new segment at exactly First,
// must delete the old segment when truncated to the new one's start, as the
// agent's drop-oldest does. It did not (First did not move, so nothing was
// deleted), and the agent's quota loop spun forever.
func TestTruncateFrontDiskFullDropOldest(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentSize: 4 << 10})
	defer l.Close()
	for range 1000 {
		if err := l.TruncateFront(l.Next()); err != nil {
			t.Fatal(err)
		}
		n := len(l.SegmentStarts())
		appendN(t, l, 1)
		starts := l.SegmentStarts()
		if len(starts) == n {
			continue
		}
		if starts[1] != l.First() {
			t.Fatalf("new segment starts at %d, First is %d", starts[1], l.First())
		}
		size := l.Size()
		if err := l.TruncateFront(starts[1]); err != nil {
			t.Fatal(err)
		}
		if got := l.SegmentStarts(); got[0] != starts[1] || l.Size() >= size {
			t.Fatalf("segments %v after truncating to %d (size %d → %d): the segment below First stayed", got, starts[1], size, l.Size())
		}
		return
	}
	t.Fatal("no segment was started in 1000 appends")
}

// TestSyncNeverMissesItsWakeup: a waiter that read the durable sequence
// just before the sync covering its record, and took mu just after that
// sync had replaced the notification channel, used to wait on a channel
// nothing would close (until some later append) — a Sync or a tailing
// Reader hanging forever on a quiet log.
func TestSyncNeverMissesItsWakeup(t *testing.T) {
	l := openT(t, t.TempDir(), Options{Fsync: FsyncNever})
	defer l.Close()
	ctx := context.Background()
	if _, err := l.AppendAsync(ctx, payloadFor(1), nil); err != nil {
		t.Fatal(err)
	}
	otherSynced := make(chan struct{})
	var first atomic.Bool
	l.testHookWaitLock = func() {
		if first.CompareAndSwap(false, true) {
			<-otherSynced
		}
	}
	result := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		result <- l.Sync(wctx) // stops in the hook until the other Sync is done
	}()
	for !first.Load() {
		time.Sleep(time.Millisecond)
	}
	for l.Durable() == 0 {
		if err := l.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(otherSynced)
	if err := <-result; err != nil {
		t.Fatalf("the waiter that missed the sync: %v", err)
	}
}

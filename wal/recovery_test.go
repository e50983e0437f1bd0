package wal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/faultfs"
)

// copyDir copies a log directory (flat, plus nothing else needed).
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == lockFile {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// buildLog writes n records and returns the dir and the byte offset at which
// the last record's frame starts.
func buildLog(t *testing.T, n int) (string, int64) {
	t.Helper()
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	appendN(t, l, n-1)
	lastStart := fileLen(t, lastSegment(t, dir))
	appendN(t, l, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, lastStart
}

func TestTornTailAtEveryByteOfTheLastRecord(t *testing.T) {
	const n = 20
	base, lastStart := buildLog(t, n)
	end := fileLen(t, lastSegment(t, base))
	for cut := lastStart; cut < end; cut++ {
		dir := copyDir(t, base)
		if err := os.Truncate(lastSegment(t, dir), cut); err != nil {
			t.Fatal(err)
		}
		l := openT(t, dir, Options{})
		rec := l.Recovery()
		wantLost := cut - lastStart
		if rec.TruncatedBytes != wantLost {
			t.Fatalf("cut at %d: truncated %d bytes, want %d", cut, rec.TruncatedBytes, wantLost)
		}
		if wantLost > 0 && len(rec.DamagedFiles) != 1 {
			t.Fatalf("cut at %d: damaged tail not saved aside: %+v", cut, rec)
		}
		if _, last := readAll(t, l); last != n-1 {
			t.Fatalf("cut at %d: last = %d, want %d", cut, last, n-1)
		}
		// The repaired log takes new appends that survive another reopen.
		appendN(t, l, 2)
		l.Close()
		l = openT(t, dir, Options{})
		if _, last := readAll(t, l); last != n+1 || l.Recovery().Repaired() {
			t.Fatalf("cut at %d: after second reopen last=%d recovery=%+v", cut, last, l.Recovery())
		}
		l.Close()
	}
}

func TestZeroFilledTailIsRepaired(t *testing.T) {
	dir, _ := buildLog(t, 50)
	seg := lastSegment(t, dir)
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 8192))
	f.Close()
	l := openT(t, dir, Options{})
	defer l.Close()
	if l.Recovery().TruncatedBytes != 8192 {
		t.Fatalf("recovery %+v, want 8192 bytes cut", l.Recovery())
	}
	if _, last := readAll(t, l); last != 50 {
		t.Fatalf("last = %d, want 50", last)
	}
	if s := l.Stats(); s.Repairs != 1 || s.RepairedBytes != 8192 {
		t.Errorf("stats do not count the repair: %+v", s)
	}
}

func flipBit(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x10
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestBitFlipInTheMiddleIsANamedError(t *testing.T) {
	// Offsets into the 10th frame: its length, crc, seq and payload.
	for _, delta := range []int64{0, 5, 9, 20} {
		dir := t.TempDir()
		l := openT(t, dir, Options{})
		appendN(t, l, 9)
		off := fileLen(t, lastSegment(t, dir)) + delta
		appendN(t, l, 30)
		l.Close()
		flipBit(t, lastSegment(t, dir), off)
		_, err := Open(dir, Options{Logger: quietLogger()})
		var ce *CorruptError
		if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
			t.Fatalf("delta %d: Open = %v, want a CorruptError", delta, err)
		}
		if ce.Offset != off-delta || !strings.Contains(err.Error(), "wal: corrupt record at segment 00000000000000000001.seg offset") {
			t.Fatalf("delta %d: error %q, want offset %d", delta, err, off-delta)
		}
		rep, ierr := Inspect(dir, nil)
		if ierr != nil || rep.Corrupt == nil || rep.Records != 9 {
			t.Fatalf("Inspect: %+v %v", rep, ierr)
		}
		// RepairAnyDamage is the explicit way out, and it saves the bytes.
		l, err = Open(dir, Options{Logger: quietLogger(), RepairAnyDamage: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, last := readAll(t, l); last != 9 || len(l.Recovery().DamagedFiles) != 1 {
			t.Fatalf("RepairAnyDamage: last %d recovery %+v", last, l.Recovery())
		}
		l.Close()
	}
}

func TestBitFlipInTheLastRecordIsRepaired(t *testing.T) {
	dir, lastStart := buildLog(t, 30)
	flipBit(t, lastSegment(t, dir), lastStart+frameHeaderSize+3)
	l := openT(t, dir, Options{})
	defer l.Close()
	if _, last := readAll(t, l); last != 29 {
		t.Fatalf("last = %d, want 29", last)
	}
}

func TestCorruptionInAnOlderSegmentIsReportedByReaders(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: 4 << 10})
	appendN(t, l, 200)
	l.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	flipBit(t, segs[0], segmentHeaderSize+frameHeaderSize*3+200)
	l = openT(t, dir, Options{SegmentSize: 4 << 10}) // the tail is fine
	defer l.Close()
	r, _ := l.NewReader(1)
	defer r.Close()
	var err error
	for err == nil {
		_, _, _, err = r.TryNext()
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reader: %v, want ErrCorrupt", err)
	}
	if rep, _ := Inspect(dir, nil); rep.Corrupt == nil {
		t.Fatal("Inspect missed the damage")
	}
}

func TestTornSegmentHeaderIsRewritten(t *testing.T) {
	dir, _ := buildLog(t, 5)
	// A crash right after creating the next segment file.
	p := filepath.Join(dir, segmentName(6))
	if err := os.WriteFile(p, []byte{'e', 'd', 'g'}, 0o600); err != nil {
		t.Fatal(err)
	}
	l := openT(t, dir, Options{})
	defer l.Close()
	if l.Next() != 6 {
		t.Fatalf("Next = %d, want 6", l.Next())
	}
	appendN(t, l, 3)
	if _, last := readAll(t, l); last != 8 {
		t.Fatalf("last = %d", last)
	}
}

func TestDiskFullKeepsEveryAcknowledgedRecord(t *testing.T) {
	for _, budget := range []int64{1000, 5000, 40000} {
		dir := t.TempDir()
		ffs := faultfs.New()
		l := openT(t, dir, Options{FS: ffs})
		ffs.SetWriteBudget(budget)
		var acked []uint64
		var err error
		for i := 0; i < 1000 && err == nil; i++ {
			var seq uint64
			seq, err = l.Append(context.Background(), payloadFor(l.Next()))
			if err == nil {
				acked = append(acked, seq)
			}
		}
		if err == nil {
			t.Fatalf("budget %d: disk never filled", budget)
		}
		if _, err := l.Append(context.Background(), []byte("x")); !errors.Is(err, ErrFailed) {
			t.Fatalf("append after failure: %v, want ErrFailed", err)
		}
		l.Close()
		ffs.SetWriteBudget(-1)
		l = openT(t, dir, Options{})
		_, last := readAll(t, l)
		if len(acked) > 0 && last < acked[len(acked)-1] {
			t.Fatalf("budget %d: acked up to %d, log has up to %d", budget, acked[len(acked)-1], last)
		}
		appendN(t, l, 1) // writable again after reopen
		l.Close()
	}
}

func TestNoAckBeforeFsyncReturns(t *testing.T) {
	ffs := faultfs.New()
	l := openT(t, t.TempDir(), Options{FS: ffs})
	defer l.Close()
	const delay = 50 * time.Millisecond
	var syncStarted atomic.Int64
	ffs.SetSyncHook(func(string) { syncStarted.Store(time.Now().UnixNano()) })
	ffs.SetSyncFault(delay, nil)
	start := time.Now()
	done := make(chan time.Time, 1)
	if _, err := l.AppendAsync(context.Background(), []byte("r"), func(_ uint64, err error) {
		if err != nil {
			t.Error(err)
		}
		done <- time.Now()
	}); err != nil {
		t.Fatal(err)
	}
	acked := <-done
	began := time.Unix(0, syncStarted.Load())
	if began.Before(start) || acked.Sub(began) < delay {
		t.Fatalf("ack %v after fsync start, fsync takes %v: acked before durable", acked.Sub(began), delay)
	}
}

func TestFailedFsyncAcksNothing(t *testing.T) {
	ffs := faultfs.New()
	dir := t.TempDir()
	l := openT(t, dir, Options{FS: ffs})
	appendN(t, l, 5)
	ffs.SetSyncFault(0, faultfs.ErrInjected)
	for i := 0; i < 3; i++ {
		if _, err := l.Append(context.Background(), []byte("doomed")); err == nil {
			t.Fatal("append acknowledged although its fsync failed")
		}
	}
	l.Close()
	ffs.SetSyncFault(0, nil)
	l = openT(t, dir, Options{})
	defer l.Close()
	// The unacknowledged records may or may not have reached the disk; the
	// acknowledged ones must all be there.
	r, _ := l.NewReader(1)
	defer r.Close()
	for want := uint64(1); want <= 5; want++ {
		seq, p, ok, err := r.TryNext()
		if !ok || err != nil || seq != want || string(p) != string(payloadFor(want)) {
			t.Fatalf("acknowledged record %d: ok=%v err=%v seq=%d", want, ok, err, seq)
		}
	}
}

// TestPowerLossKeepsAcknowledgedRecords simulates power cuts after a burst
// of concurrent appends: the unsynced part of each file is dropped, torn or
// zero-filled. Under FsyncAlways nothing acknowledged may be missing.
func TestPowerLossKeepsAcknowledgedRecords(t *testing.T) {
	for _, mode := range []faultfs.CrashMode{faultfs.DropUnsynced, faultfs.TearUnsynced, faultfs.ZeroUnsynced} {
		dir := t.TempDir()
		ffs := faultfs.New()
		l := openT(t, dir, Options{FS: ffs, SegmentSize: 8 << 10})
		var maxAcked atomic.Uint64
		ctx := context.Background()
		for i := 0; i < 300; i++ {
			payload := []byte{byte(i)}
			_, err := l.AppendAsync(ctx, payload, func(seq uint64, err error) {
				if err == nil {
					for {
						cur := maxAcked.Load()
						if seq <= cur || maxAcked.CompareAndSwap(cur, seq) {
							break
						}
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		// Freeze the disk as it is at a random instant: make further
		// fsyncs fail so nothing more becomes durable, then cut power.
		ffs.SetSyncFault(0, faultfs.ErrInjected)
		acked := maxAcked.Load()
		l.Close()
		if err := ffs.Crash(mode); err != nil {
			t.Fatal(err)
		}
		l2, err := Open(dir, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatalf("mode %d: reopen: %v", mode, err)
		}
		if l2.Next()-1 < acked {
			t.Fatalf("mode %d: acknowledged up to %d, recovered only to %d", mode, acked, l2.Next()-1)
		}
		l2.Close()
	}
}

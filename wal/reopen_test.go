package wal

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/edgelog/edgelog/internal/faultfs"
)

// TestReopenAfterFailedFsync: after a failed fsync the log refuses appends;
// Reopen fails while the disk still fails, then recovers in place: the
// records whose fsync failed are gone and their sequences are reused, the
// acknowledged ones are intact, a Reader opened before the failure (whose
// buffer holds the failed bytes) reads the new records, and a real reopen
// agrees.
func TestReopenAfterFailedFsync(t *testing.T) {
	ffs := faultfs.New()
	dir := t.TempDir()
	l := openT(t, dir, Options{FS: ffs, SegmentSize: 8 << 10})
	appendN(t, l, 50)
	ffs.SetSyncFault(0, faultfs.ErrInjected)
	if _, err := l.Append(context.Background(), []byte("doomed record")); err == nil {
		t.Fatal("append acknowledged although its fsync failed")
	}
	if _, err := l.Append(context.Background(), payloadFor(51)); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after failure: %v, want ErrFailed", err)
	}
	// A reader that starts now buffers the failed record's bytes.
	r, err := l.NewReader(l.First())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for want := l.First(); want <= 50; want++ {
		if seq, _, ok, err := r.TryNext(); !ok || err != nil || seq != want {
			t.Fatalf("reading %d during the failure: seq %d ok %v err %v", want, seq, ok, err)
		}
	}
	if _, err := l.Reopen(context.Background()); err == nil {
		t.Fatal("Reopen succeeded while fsync still fails")
	}
	if _, err := l.Append(context.Background(), payloadFor(51)); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after a failed Reopen: %v, want ErrFailed", err)
	}

	ffs.SetSyncFault(0, nil)
	rec, err := l.Reopen(context.Background())
	if err != nil {
		t.Fatalf("Reopen after the disk healed: %v", err)
	}
	if !strings.Contains(rec.Reason, "fsync") {
		t.Errorf("recovery %+v does not name the failure", rec)
	}
	if l.Next() != 51 || l.Durable() != 50 {
		t.Fatalf("after Reopen next %d durable %d, want 51 and 50", l.Next(), l.Durable())
	}
	appendN(t, l, 10)
	for want := uint64(51); want <= 60; want++ {
		seq, p, ok, err := r.TryNext()
		if !ok || err != nil || seq != want || string(p) != string(payloadFor(want)) {
			t.Fatalf("reader across Reopen, record %d: seq %d ok %v err %v payload %q", want, seq, ok, err, p)
		}
	}
	if _, err := l.Reopen(context.Background()); err != nil {
		t.Fatalf("Reopen of a healthy log: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openT(t, dir, Options{})
	defer l.Close()
	if first, last := readAll(t, l); first != 1 || last != 60 {
		t.Fatalf("after a real reopen read %d..%d, want 1..60", first, last)
	}
	if l.Recovery().Repaired() {
		t.Errorf("real reopen had to repair: %+v", l.Recovery())
	}
}

// TestReopenAfterDiskFull: a short write at ENOSPC fails the log; once
// space is back, Reopen cuts the partial frame and appends continue, with
// every acknowledged record intact.
func TestReopenAfterDiskFull(t *testing.T) {
	for _, budget := range []int64{1000, 9000, 40000} {
		ffs := faultfs.New()
		dir := t.TempDir()
		l := openT(t, dir, Options{FS: ffs, SegmentSize: 8 << 10})
		ffs.SetWriteBudget(budget)
		var acked uint64
		var failures atomic.Int64
		for i := 0; i < 2000 && failures.Load() == 0; i++ {
			seq, err := l.Append(context.Background(), payloadFor(l.Next()))
			if err != nil {
				failures.Add(1)
				continue
			}
			acked = seq
		}
		if failures.Load() == 0 {
			t.Fatalf("budget %d: the disk never filled", budget)
		}
		ffs.SetWriteBudget(-1)
		if _, err := l.Reopen(context.Background()); err != nil {
			t.Fatalf("budget %d: Reopen: %v", budget, err)
		}
		if l.Next() != acked+1 {
			t.Fatalf("budget %d: next %d after Reopen, acknowledged up to %d", budget, l.Next(), acked)
		}
		appendN(t, l, 20)
		if first, last := readAll(t, l); first != 1 || last != acked+20 {
			t.Fatalf("budget %d: read %d..%d, want 1..%d", budget, first, last, acked+20)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = openT(t, dir, Options{})
		if _, last := readAll(t, l); last != acked+20 {
			t.Fatalf("budget %d: after a real reopen last %d, want %d", budget, last, acked+20)
		}
		l.Close()
	}
}

// TestOpenFsyncsTheLastSegment: records a killed writer left unsynced are
// made durable by Open before Durable reports them.
func TestOpenFsyncsTheLastSegment(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{Fsync: FsyncNever})
	appendN(t, l, 5)
	l.Close()
	ffs := faultfs.New()
	var synced atomic.Int64
	ffs.SetSyncHook(func(name string) {
		if strings.HasSuffix(name, segmentSuffix) {
			synced.Add(1)
		}
	})
	l = openT(t, dir, Options{FS: ffs})
	defer l.Close()
	if synced.Load() == 0 {
		t.Fatal("Open did not fsync the last segment")
	}
}

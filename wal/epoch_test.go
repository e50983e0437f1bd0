package wal

import (
	"errors"
	"os"
	"testing"
)

// TestNewEpoch: a closed log gets a new epoch and keeps its records; an
// open one is refused.
func TestNewEpoch(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentSize: 4 << 10})
	appendN(t, l, 300)
	first := l.Epoch()
	if _, _, err := NewEpoch(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("NewEpoch of an open log: %v, want ErrLocked", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	old, epoch, err := NewEpoch(dir)
	if err != nil {
		t.Fatal(err)
	}
	if old != first || epoch == first || len(epoch) != len(first) {
		t.Fatalf("NewEpoch returned %q → %q; the log's epoch was %q", old, epoch, first)
	}
	l = openT(t, dir, Options{SegmentSize: 4 << 10})
	if l.Epoch() != epoch {
		t.Fatalf("reopened log has epoch %q, want %q", l.Epoch(), epoch)
	}
	if rec := l.Recovery(); rec.Repaired() {
		t.Errorf("reopening after NewEpoch repaired %+v", rec)
	}
	if f, last := readAll(t, l); f != 1 || last != 300 {
		t.Fatalf("records %d..%d after NewEpoch, want 1..300", f, last)
	}
	empty := t.TempDir()
	if _, _, err := NewEpoch(empty); err == nil {
		t.Fatal("NewEpoch of a directory without a log succeeded")
	}
	if left, _ := os.ReadDir(empty); len(left) != 0 {
		t.Errorf("NewEpoch of a directory without a log left %d files in it", len(left))
	}
}

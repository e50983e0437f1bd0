package wal

import "testing"

func TestSegmentStarts(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentSize: 4 << 10})
	defer l.Close()
	if got := l.SegmentStarts(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("empty log: %v, want [1]", got)
	}
	appendN(t, l, 400)
	starts := l.SegmentStarts()
	if len(starts) < 3 || starts[0] != 1 {
		t.Fatalf("starts %v: want several segments from 1", starts)
	}
	for i := 1; i < len(starts); i++ {
		if starts[i] <= starts[i-1] {
			t.Fatalf("starts not increasing: %v", starts)
		}
	}
	if err := l.TruncateFront(starts[1]); err != nil {
		t.Fatal(err)
	}
	if got := l.SegmentStarts(); len(got) != len(starts)-1 || got[0] != starts[1] {
		t.Fatalf("after dropping the oldest segment: %v, want %v", got, starts[1:])
	}
}

package wal

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// payloadFor is the deterministic content of record seq in tests: its
// length varies with seq so frames do not line up on round numbers.
func payloadFor(seq uint64) []byte {
	n := 20 + int(seq*7919%300)
	out := make([]byte, 0, n+32)
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], seq)
	for len(out) < n {
		h := sha256.Sum256(append(s[:], byte(len(out))))
		out = append(out, h[:]...)
	}
	return out[:n]
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openT(t testing.TB, dir string, o Options) *Log {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	l, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l
}

func appendN(t testing.TB, l *Log, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		want := l.Next()
		seq, err := l.Append(ctx, payloadFor(want))
		if err != nil || seq != want {
			t.Fatalf("Append: seq %d err %v, want seq %d", seq, err, want)
		}
	}
}

// readAll reads every durable record from first to the end and checks each
// against payloadFor.
func readAll(t testing.TB, l *Log) (first, last uint64) {
	t.Helper()
	r, err := l.NewReader(l.First())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first = r.Seq()
	last = first - 1
	for {
		seq, p, ok, err := r.TryNext()
		if err != nil {
			t.Fatalf("read seq %d: %v", r.Seq(), err)
		}
		if !ok {
			return first, last
		}
		if seq != last+1 {
			t.Fatalf("read seq %d after %d", seq, last)
		}
		if string(p) != string(payloadFor(seq)) {
			t.Fatalf("seq %d: payload differs", seq)
		}
		last = seq
	}
}

// lastSegment returns the path of the newest segment file in dir.
func lastSegment(t testing.TB, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if len(m) == 0 {
		t.Fatal("no segments")
	}
	return m[len(m)-1]
}

func fileLen(t testing.TB, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

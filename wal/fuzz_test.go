package wal

import (
	"os"
	"path/filepath"
	"testing"
)

func FuzzDecodeFrame(f *testing.F) {
	f.Add(appendFrame(nil, 7, []byte("hello")), uint64(7))
	f.Add(appendFrame(nil, 1, nil), uint64(0))
	f.Add(make([]byte, 40), uint64(1))
	f.Fuzz(func(t *testing.T, b []byte, want uint64) {
		seq, payload, n, err := DecodeFrame(b, want, 1<<16)
		if err != nil {
			return
		}
		if n > len(b) || len(payload) != n-frameHeaderSize || (want != 0 && seq != want) {
			t.Fatalf("inconsistent decode: seq %d n %d len(b) %d", seq, n, len(b))
		}
		// A frame that decodes re-encodes to the same bytes.
		if again := appendFrame(nil, seq, payload); string(again) != string(b[:n]) {
			t.Fatal("decode/encode mismatch")
		}
	})
}

// FuzzRecovery opens a log whose last segment holds arbitrary bytes after
// valid records. Open must either fail with a CorruptError or yield a log
// whose every record verifies, that takes appends and reopens cleanly.
func FuzzRecovery(f *testing.F) {
	good := appendFrame(appendFrame(nil, 1, []byte("one")), 2, []byte("two"))
	f.Add(good)
	f.Add(append(append([]byte(nil), good...), 0, 0, 0, 0, 0))
	f.Add(good[:len(good)-3])
	f.Add(append(appendFrame(nil, 1, []byte("x")), appendFrame(nil, 3, []byte("y"))...))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		dir := t.TempDir()
		seg := append(encodeSegmentHeader(1), body...)
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), seg, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, Options{Logger: quietLogger()})
		if err != nil {
			if _, ok := err.(*CorruptError); !ok {
				t.Fatalf("Open failed with a non-corruption error: %v", err)
			}
			return
		}
		r, _ := l.NewReader(1)
		for {
			_, _, ok, err := r.TryNext()
			if err != nil {
				t.Fatalf("read after repair: %v", err)
			}
			if !ok {
				break
			}
		}
		r.Close()
		next := l.Next()
		if _, err := l.Append(t.Context(), []byte("after")); err != nil {
			t.Fatal(err)
		}
		l.Close()
		l, err = Open(dir, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatalf("reopen after repair: %v", err)
		}
		if l.Next() != next+1 || l.Recovery().Repaired() {
			t.Fatalf("reopen: next %d (want %d), recovery %+v", l.Next(), next+1, l.Recovery())
		}
		l.Close()
	})
}

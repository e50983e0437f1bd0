package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func testBatch(t testing.TB, first int, n int, ts int64) ([]byte, []BatchInfo) {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Timestamp: ts, Key: []byte("k"), Value: []byte(fmt.Sprintf("value-%d", first+i)),
			Headers: []Header{{Key: "agent.id", Value: []byte("a1")}, {Key: "agent.seq", Value: []byte(strconv.Itoa(first + i))}}}
	}
	b := AppendBatch(nil, recs)
	infos, err := SplitBatches(b, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return b, infos
}

// agentMarks is the mark extractor the hub uses, reduced for tests.
func agentMarks(b []byte, info BatchInfo, mark func(string, int64)) {
	DecodeRecords(b, info, func(r Record) error {
		var id string
		var seq int64 = -1
		for _, h := range r.Headers {
			switch h.Key {
			case "agent.id":
				id = string(h.Value)
			case "agent.seq":
				seq, _ = strconv.ParseInt(string(h.Value), 10, 64)
			}
		}
		if id != "" && seq >= 0 {
			mark(id, seq)
		}
		return nil
	})
}

// readAll returns the values of every readable record.
func readAll(t *testing.T, p *Partition) []string {
	t.Helper()
	start, hw, _ := p.Offsets()
	var out []string
	for off := start; off < hw; {
		data, _, err := p.Read(off, 1<<20, true)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(data) == 0 {
			t.Fatalf("no data at %d < hw %d", off, hw)
		}
		for len(data) > 0 {
			info, err := ParseBatchHeader(data, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if err := DecodeRecords(data, info, func(r Record) error {
				if r.Offset >= off {
					if r.Offset != off {
						t.Fatalf("offset %d, want dense %d", r.Offset, off)
					}
					out = append(out, string(r.Value))
					off++
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			data = data[info.Size:]
		}
	}
	return out
}

// writeN appends batches of per records as producer "a1", whose mark is
// the agent.seq of the last record (= its offset here).
func writeN(t *testing.T, p *Partition, batches, per int) {
	t.Helper()
	_, _, end := p.Offsets()
	for i := 0; i < batches; i++ {
		first := int(end) + i*per
		b, infos := testBatch(t, first, per, time.Now().UnixMilli())
		last := int64(first + per - 1)
		_, e, err := p.WriteProducer(b, infos, "a1", func(int64, bool) (int64, error) { return last, nil })
		if err != nil {
			t.Fatal(err)
		}
		if err := p.WaitDurable(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	p, err := OpenPartition(dir, PartitionConfig{SegmentBytes: 1000, Marks: agentMarks})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, p, 20, 3)
	if n := len(p.segs); n < 3 {
		t.Fatalf("expected several segments, got %d", n)
	}
	want := readAll(t, p)
	if len(want) != 60 || want[59] != "value-59" {
		t.Fatalf("got %d records, last %q", len(want), want[len(want)-1])
	}
	if s, _ := p.ProducerSeq("a1"); s != 59 {
		t.Fatalf("producer seq %d", s)
	}
	p.Close()
	p, err = OpenPartition(dir, PartitionConfig{SegmentBytes: 1000, Marks: agentMarks})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := readAll(t, p); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after reopen: %v", got)
	}
	if s, ok := p.ProducerSeq("a1"); !ok || s != 59 {
		t.Fatalf("producer seq after reopen %d %v", s, ok)
	}
	writeN(t, p, 1, 1)
	if got := readAll(t, p); len(got) != 61 || got[60] != "value-60" {
		t.Fatalf("append after reopen: %d", len(got))
	}
}

func TestReadOutOfRange(t *testing.T) {
	p, err := OpenPartition(t.TempDir(), PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	writeN(t, p, 2, 2)
	for _, off := range []int64{-1, 5, 100} {
		if _, _, err := p.Read(off, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Errorf("read %d: %v", off, err)
		}
	}
	if d, _, err := p.Read(4, 100, true); err != nil || len(d) != 0 {
		t.Errorf("read at end: %d bytes %v", len(d), err)
	}
	if d, _, _ := p.Read(3, 1, false); len(d) != 0 {
		t.Errorf("maxBytes 1 without minOne returned data")
	}
	if d, _, _ := p.Read(3, 1, true); len(d) == 0 {
		t.Errorf("minOne returned nothing")
	}
}

// TestTornTailEveryOffset cuts the log at every byte of its last batches and
// checks that open keeps exactly the whole batches before the cut.
func TestTornTailEveryOffset(t *testing.T) {
	src := t.TempDir()
	p, err := OpenPartition(src, PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, p, 4, 2)
	sizes := []int64{}
	for _, e := range p.segs[0].index {
		sizes = append(sizes, e.pos+int64(e.size))
	}
	p.Close()
	full, err := os.ReadFile(segmentPath(src, 0))
	if err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut <= len(full); cut++ {
		for _, fill := range []string{"cut", "zeros"} {
			dir := t.TempDir()
			data := append([]byte(nil), full[:cut]...)
			if fill == "zeros" {
				data = append(data, make([]byte, 100)...)
			}
			os.WriteFile(segmentPath(dir, 0), data, 0o644)
			p, err := OpenPartition(dir, PartitionConfig{})
			if err != nil {
				t.Fatalf("cut %d %s: %v", cut, fill, err)
			}
			want := 0
			for i, s := range sizes {
				if int64(cut) >= s {
					want = (i + 1) * 2
				}
			}
			if got := readAll(t, p); len(got) != want {
				t.Fatalf("cut %d %s: %d records, want %d", cut, fill, len(got), want)
			}
			writeN(t, p, 1, 1)
			if got := readAll(t, p); len(got) != want+1 {
				t.Fatalf("cut %d: append after repair: %d", cut, len(got))
			}
			p.Close()
		}
	}
}

func TestBitFlipBeforeTailIsCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		segment int // which segment to damage
		at      func(size int) int
	}{
		{"first batch payload, one segment", 0, func(int) int { return 70 }},
		{"first batch length, one segment", 0, func(int) int { return 9 }},
		{"sealed segment tail", 0, func(n int) int { return n - 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			segBytes := int64(1 << 20)
			if tc.name == "sealed segment tail" {
				segBytes = 400
			}
			p, err := OpenPartition(dir, PartitionConfig{SegmentBytes: segBytes})
			if err != nil {
				t.Fatal(err)
			}
			writeN(t, p, 6, 2)
			p.Close()
			path := segmentPath(dir, 0)
			data, _ := os.ReadFile(path)
			data[tc.at(len(data))] ^= 0x40
			os.WriteFile(path, data, 0o644)
			_, err = OpenPartition(dir, PartitionConfig{SegmentBytes: segBytes})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("want ErrCorrupt, got %v", err)
			}
		})
	}
}

func TestOffsetForTime(t *testing.T) {
	p, err := OpenPartition(t.TempDir(), PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := 0; i < 5; i++ {
		b, infos := testBatch(t, i*2, 2, int64(1000*(i+1)))
		p.Append(context.Background(), b, infos)
	}
	cases := map[int64]int64{0: 0, 1000: 0, 1001: 2, 3000: 4, 5000: 8, 5001: -1}
	for ts, want := range cases {
		if got, _, err := p.OffsetForTime(ts); err != nil || got != want {
			t.Errorf("OffsetForTime(%d) = %d (%v), want %d", ts, got, err, want)
		}
	}
}

func TestRetention(t *testing.T) {
	p, err := OpenPartition(t.TempDir(), PartitionConfig{SegmentBytes: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	old := time.Now().Add(-time.Hour).UnixMilli()
	for i := 0; i < 6; i++ {
		b, infos := testBatch(t, i*2, 2, old)
		p.Append(context.Background(), b, infos)
	}
	writeN(t, p, 2, 2)
	n, err := p.Retain(time.Now(), time.Minute, -1)
	if err != nil || n == 0 {
		t.Fatalf("retain removed %d: %v", n, err)
	}
	start, _, end := p.Offsets()
	if start == 0 || start > 12 || end != 16 {
		t.Fatalf("start %d end %d", start, end)
	}
	if _, _, err := p.Read(0, 100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	// Size retention keeps at least maxBytes and never takes the active
	// segment.
	writeN(t, p, 6, 2)
	segs := p.Segments()
	if segs < 3 {
		t.Fatalf("want several segments, have %d", segs)
	}
	if n, err := p.Retain(time.Now(), 0, 1); err != nil || n != segs-1 || p.Segments() != 1 {
		t.Fatalf("size retention removed %d of %d (%v), kept %d", n, segs, err, p.Segments())
	}
	if n, _ := p.Retain(time.Now(), 0, 1); n != 0 {
		t.Fatalf("size retention removed the active segment")
	}
	// Age retention empties an idle log: the active segment goes too.
	start, _, end = p.Offsets()
	if n, err := p.Retain(time.Now().Add(time.Hour), time.Minute, 0); err != nil || n != 1 {
		t.Fatalf("age retention of the active segment: %d %v", n, err)
	}
	if s2, hw, e2 := p.Offsets(); s2 != end || hw != end || e2 != end {
		t.Fatalf("after emptying: start %d hw %d end %d, want all %d (was start %d)", s2, hw, e2, end, start)
	}
	writeN(t, p, 1, 1)
	if got := readAll(t, p); len(got) != 1 {
		t.Fatalf("after emptying and one write: %v", got)
	}
}

func TestKV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offsets.kv")
	k, err := OpenKV(nil, path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k.Put(ctx, KVEntry{"g/t/0", []byte("1")}, KVEntry{"g/t/1", []byte("2")})
	k.Put(ctx, KVEntry{"g/t/0", []byte("3")}, KVEntry{"g/t/1", nil})
	k.Close()
	raw, _ := os.ReadFile(path)
	os.WriteFile(path, append(raw, 0, 0, 0, 9, 1, 2), 0o644) // torn frame
	k, err = OpenKV(nil, path)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := k.Get("g/t/0"); string(v) != "3" {
		t.Fatalf("g/t/0 = %q", v)
	}
	if _, ok := k.Get("g/t/1"); ok {
		t.Fatal("deleted key present")
	}
	for i := 0; i < 3000; i++ { // forces compaction
		k.Put(ctx, KVEntry{"g/t/0", bytes.Repeat([]byte("x"), 500)})
	}
	k.Close()
	if st, _ := os.Stat(path); st.Size() > 1<<20 {
		t.Fatalf("not compacted: %d bytes", st.Size())
	}
	raw, _ = os.ReadFile(path)
	raw[10] ^= 1
	os.WriteFile(path, append(raw, raw...), 0o644)
	if _, err := OpenKV(nil, path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged kv: %v", err)
	}
}

func FuzzRecoverSegment(f *testing.F) {
	b, _ := testBatch(f, 0, 3, 1)
	f.Add(b)
	f.Add(append(b, b[:20]...))
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.WriteFile(segmentPath(dir, 0), data, 0o644)
		p, err := OpenPartition(dir, PartitionConfig{MaxBatch: 1 << 16})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		defer p.Close()
		start, hw, _ := p.Offsets()
		for off := start; off < hw; {
			d, _, err := p.Read(off, 1<<16, true)
			if err != nil || len(d) == 0 {
				t.Fatalf("read %d: %v", off, err)
			}
			info, err := ParseBatchHeader(d, 1<<16)
			if err != nil {
				t.Fatal(err)
			}
			off = info.LastOffset + 1
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	b, _ := testBatch(f, 0, 3, 1)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		infos, err := SplitBatches(data, 1<<16)
		if err != nil {
			return
		}
		for _, info := range infos {
			verr := ValidateRecords(data[:info.Size], info)
			n := int32(0)
			derr := DecodeRecords(data[:info.Size], info, func(Record) error { n++; return nil })
			if verr == nil && (derr != nil || n != info.RecordCount) {
				t.Fatalf("ValidateRecords passed a batch that does not decode: %v", derr)
			}
			data = data[info.Size:]
		}
	})
}

func FuzzDecodeKV(f *testing.F) {
	fr, _ := encodeKVFrame(nil, []KVEntry{{"a", []byte("b")}, {"c", nil}})
	f.Add(fr)
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := DecodeKVLog(data, func(KVEntry) {})
		if n > len(data) || (err != nil && !errors.Is(err, ErrCorrupt)) {
			t.Fatalf("n=%d err=%v", n, err)
		}
	})
}

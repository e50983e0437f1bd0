package syncproto

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

func buildBatch(t testing.TB, l Limits, first uint64, recs [][]byte, c *Compressor) ([]byte, BatchInfo) {
	t.Helper()
	b := NewBatchBuilder(l)
	b.Reset(first)
	for _, r := range recs {
		if !b.Fits(len(r)) {
			t.Fatalf("record of %d bytes does not fit after %d records", len(r), b.Len())
		}
		b.Add(r)
	}
	frame, info, err := b.Encode(nil, c)
	if err != nil {
		t.Fatal(err)
	}
	return frame, info
}

func decodeFrame(t testing.TB, d *BatchDecoder, frame []byte) (Batch, error) {
	t.Helper()
	typ, body, rest, err := SplitFrame(frame, d.limits.MaxDataFrame())
	if err != nil {
		t.Fatal(err)
	}
	if typ != TypeBatch || len(rest) != 0 {
		t.Fatalf("type %v, %d trailing", typ, len(rest))
	}
	return d.Decode(body)
}

func TestBatchRoundTrip(t *testing.T) {
	comp, err := NewCompressor()
	if err != nil {
		t.Fatal(err)
	}
	defer comp.Close()
	dec, err := NewBatchDecoder(Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 23, 24, 255, 256, 65535, 65536, 200}
	for _, compress := range []bool{false, true} {
		for _, n := range []int{1, 2, 23, 24, 300, 5000} {
			t.Run(fmt.Sprintf("compress=%v/n=%d", compress, n), func(t *testing.T) {
				var recs [][]byte
				for i := range n {
					size := sizes[i%len(sizes)]
					if n > 24 {
						size %= 200
					}
					r := make([]byte, size)
					if i%2 == 0 {
						for j := range r {
							r[j] = byte(rng.IntN(256))
						}
					}
					recs = append(recs, r)
				}
				var c *Compressor
				if compress {
					c = comp
				}
				frame, info := buildBatch(t, Limits{}, 42, recs, c)
				if info.Count != n || info.First != 42 || info.WireBytes != len(frame) {
					t.Fatalf("info %+v", info)
				}
				if !compress && info.Codec != CodecNone {
					t.Fatal("compressed without a compressor")
				}
				b, err := decodeFrame(t, dec, frame)
				if err != nil {
					t.Fatal(err)
				}
				if b.First != 42 || b.Last() != 42+uint64(n)-1 || len(b.Records) != n || b.Codec != info.Codec {
					t.Fatalf("batch %d..%d codec %v", b.First, b.Last(), b.Codec)
				}
				for i := range recs {
					if !bytes.Equal(b.Records[i], recs[i]) {
						t.Fatalf("record %d differs", i)
					}
				}
				// The record list is plain CBOR: a general decoder agrees.
				var std [][]byte
				if err := cbor.Unmarshal(NewBatchBuilderList(t, recs), &std); err != nil || len(std) != n {
					t.Fatalf("standard decoder: %v (%d items)", err, len(std))
				}
			})
		}
	}
}

// NewBatchBuilderList returns the raw record list for recs.
func NewBatchBuilderList(t testing.TB, recs [][]byte) []byte {
	b := NewBatchBuilder(Limits{})
	b.Reset(1)
	for _, r := range recs {
		b.Add(r)
	}
	return append([]byte(nil), b.rawList()...)
}

func TestBatchCompressesWhenItHelps(t *testing.T) {
	comp, _ := NewCompressor()
	defer comp.Close()
	text := bytes.Repeat([]byte(`{"temp":21.5,"unit":"C"}`), 8)
	var recs [][]byte
	for range 100 {
		recs = append(recs, text)
	}
	_, info := buildBatch(t, Limits{}, 1, recs, comp)
	if info.Codec != CodecZstd || info.WireBytes*4 > info.RawBytes {
		t.Fatalf("repetitive batch: codec %v, %d wire bytes for %d raw", info.Codec, info.WireBytes, info.RawBytes)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	noise := make([]byte, 2000)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	_, info = buildBatch(t, Limits{}, 1, [][]byte{noise}, comp)
	if info.Codec != CodecNone {
		t.Fatal("random bytes were sent compressed")
	}
}

func TestBatchBuilderLimits(t *testing.T) {
	l := Limits{MaxBatchBytes: 1000, MaxBatchRecords: 10, MaxRecordBytes: 5000}
	b := NewBatchBuilder(l)
	b.Reset(1)
	for b.Fits(10) {
		b.Add(make([]byte, 10))
	}
	if b.Len() != 10 {
		t.Fatalf("count limit: %d records", b.Len())
	}
	b.Reset(1)
	for b.Fits(100) {
		b.Add(make([]byte, 100))
	}
	if b.RawSize() > 1000 || b.RawSize()+102 <= 1000 {
		t.Fatalf("byte limit: %d raw bytes in %d records", b.RawSize(), b.Len())
	}
	b.Reset(1)
	if !b.Fits(4000) {
		t.Fatal("a single large record must fit an empty batch")
	}
	b.Add(make([]byte, 4000))
	if b.Fits(1) {
		t.Fatal("nothing may join a batch past MaxBatchBytes")
	}
	b.Reset(1)
	if b.Fits(5001) {
		t.Fatal("a record over MaxRecordBytes never fits")
	}
	if _, _, err := b.Encode(nil, nil); err == nil {
		t.Fatal("empty batch encoded")
	}
}

// rawBatch builds a Batch body by hand.
func rawBatch(h batchHeader, data []byte) []byte {
	hb, _ := encMode.Marshal(h)
	return append(hb, data...)
}

func TestBatchDecodeMalformed(t *testing.T) {
	l := Limits{MaxBatchBytes: 1 << 10, MaxBatchRecords: 8, MaxRecordBytes: 1 << 12}
	d, _ := NewBatchDecoder(l)
	defer d.Close()
	comp, _ := NewCompressor()
	defer comp.Close()
	list := func(items ...[]byte) []byte { return NewBatchBuilderList(t, items) }
	two := list([]byte("a"), []byte("b"))
	bomb := comp.enc.EncodeAll(make([]byte, 1<<20), nil)
	lying := comp.enc.EncodeAll(append(two, 0), nil)
	cases := []struct {
		name string
		body []byte
	}{
		{"no header", nil},
		{"header not a map", []byte{0x01}},
		{"first 0", rawBatch(batchHeader{First: 0, Count: 2, RawLen: uint32(len(two))}, two)},
		{"overflow", rawBatch(batchHeader{First: ^uint64(0), Count: 2, RawLen: uint32(len(two))}, two)},
		{"count 0", rawBatch(batchHeader{First: 1, Count: 0, RawLen: 1}, []byte{0x80})},
		{"too many records", rawBatch(batchHeader{First: 1, Count: 9, RawLen: 10}, list(make([][]byte, 9)...))},
		{"raw over limit", rawBatch(batchHeader{First: 1, Count: 2, RawLen: 1 << 20}, two)},
		{"count mismatch", rawBatch(batchHeader{First: 1, Count: 3, RawLen: uint32(len(two))}, two)},
		{"raw length mismatch", rawBatch(batchHeader{First: 1, Count: 2, RawLen: uint32(len(two) + 1)}, two)},
		{"unknown codec", rawBatch(batchHeader{First: 1, Count: 2, Codec: 7, RawLen: uint32(len(two))}, two)},
		{"zstd garbage", rawBatch(batchHeader{First: 1, Count: 2, Codec: CodecZstd, RawLen: uint32(len(two))}, []byte("not zstd"))},
		{"zstd bomb", rawBatch(batchHeader{First: 1, Count: 2, Codec: CodecZstd, RawLen: 1000}, bomb)},
		{"zstd longer than declared", rawBatch(batchHeader{First: 1, Count: 2, Codec: CodecZstd, RawLen: uint32(len(two))}, lying)},
		{"item not bytes", rawBatch(batchHeader{First: 1, Count: 1, RawLen: 3}, []byte{0x81, 0x61, 'x'})},
		{"item past end", rawBatch(batchHeader{First: 1, Count: 1, RawLen: 3}, []byte{0x81, 0x45, 'x'})},
		{"indefinite list", rawBatch(batchHeader{First: 1, Count: 1, RawLen: 4}, []byte{0x9f, 0x41, 'x', 0xff})},
		{"indefinite item", rawBatch(batchHeader{First: 1, Count: 1, RawLen: 4}, []byte{0x81, 0x5f, 0x41, 'x'})},
		{"not an array", rawBatch(batchHeader{First: 1, Count: 1, RawLen: 2}, []byte{0x41, 'x'})},
		{"trailing", rawBatch(batchHeader{First: 1, Count: 1, RawLen: 4}, []byte{0x81, 0x41, 'x', 0})},
		{"huge array claim", rawBatch(batchHeader{First: 1, Count: 1, RawLen: 5}, []byte{0x9a, 0xff, 0xff, 0xff, 0xff})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := d.Decode(c.body); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
	// A single record may exceed MaxBatchBytes up to MaxRecordBytes.
	big := list(make([]byte, 3000))
	if _, err := d.Decode(rawBatch(batchHeader{First: 1, Count: 1, RawLen: uint32(len(big))}, big)); err != nil {
		t.Fatalf("single large record: %v", err)
	}
}

package syncproto

import (
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// Codec says how a batch's record list is carried.
type Codec uint8

// Codecs. Values are part of the wire protocol.
const (
	CodecNone Codec = 0
	CodecZstd Codec = 1
)

// batchHeader is the CBOR map at the head of a Batch body; the record list
// (raw or compressed) follows it to the end of the frame.
type batchHeader struct {
	First  uint64 `cbor:"1,keyasint"`
	Count  uint32 `cbor:"2,keyasint"`
	Codec  Codec  `cbor:"3,keyasint"`
	RawLen uint32 `cbor:"4,keyasint"`
}

// Batch is a decoded Batch frame: Records[i] is the WAL payload of sequence
// First+i.
type Batch struct {
	First     uint64
	Records   [][]byte // alias the decoded frame or decompression buffer
	RawBytes  int      // encoded record list before compression
	WireBytes int      // frame size on the wire
	Codec     Codec
}

// Last is the sequence of the batch's last record.
func (b *Batch) Last() uint64 { return b.First + uint64(len(b.Records)) - 1 }

// BatchBuilder accumulates consecutive WAL records into one batch within
// a session's limits. Not safe for concurrent use.
type BatchBuilder struct {
	limits Limits
	first  uint64
	n      int
	raw    []byte // rawListHeadroom reserved bytes, then the list items
}

// rawListHeadroom is room for the longest CBOR array head, written last.
const rawListHeadroom = 9

// NewBatchBuilder returns an empty builder for batches within l.
func NewBatchBuilder(l Limits) *BatchBuilder {
	b := &BatchBuilder{limits: l.WithDefaults()}
	b.Reset(0)
	return b
}

// Reset empties the builder; the next record added gets sequence first.
func (b *BatchBuilder) Reset(first uint64) {
	b.first, b.n = first, 0
	b.raw = append(b.raw[:0], make([]byte, rawListHeadroom)...)
}

// First is the sequence of the batch's first record.
func (b *BatchBuilder) First() uint64 { return b.first }

// Len is the number of records added.
func (b *BatchBuilder) Len() int { return b.n }

// RawSize is the encoded size of the record list so far.
func (b *BatchBuilder) RawSize() int {
	return cborHeadLen(uint64(b.n)) + len(b.raw) - rawListHeadroom
}

// Fits reports whether a record of n bytes can be added within the limits.
// A record too large for any batch never fits, even in an empty builder.
func (b *BatchBuilder) Fits(n int) bool {
	raw := b.RawSize() + cborHeadLen(uint64(n)) + n + cborHeadLen(uint64(b.n+1)) - cborHeadLen(uint64(b.n))
	return b.limits.fits(b.n+1, raw)
}

// Add appends the payload of sequence First()+Len(). The caller checks Fits.
func (b *BatchBuilder) Add(p []byte) {
	b.raw = appendHead(b.raw, majorBytes, uint64(len(p)))
	b.raw = append(b.raw, p...)
	b.n++
}

// rawList returns the encoded record list, array head included.
func (b *BatchBuilder) rawList() []byte {
	h := appendHead(nil, majorArray, uint64(b.n))
	start := rawListHeadroom - len(h)
	copy(b.raw[start:], h)
	return b.raw[start:]
}

// Compressor zstd-compresses record lists. EncodeAll is safe for concurrent
// use, so one Compressor may serve many builders.
type Compressor struct {
	enc *zstd.Encoder
}

// NewCompressor returns a Compressor at zstd's fastest level.
func NewCompressor() (*Compressor, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
	if err != nil {
		return nil, fmt.Errorf("syncproto: zstd encoder: %w", err)
	}
	return &Compressor{enc: enc}, nil
}

// Close releases the encoder.
func (c *Compressor) Close() error { return c.enc.Close() }

// BatchInfo describes an encoded batch.
type BatchInfo struct {
	First     uint64
	Count     int
	RawBytes  int // record list before compression
	WireBytes int // whole frame, length prefix included
	Codec     Codec
}

// Last is the sequence of the batch's last record.
func (i BatchInfo) Last() uint64 { return i.First + uint64(i.Count) - 1 }

// Encode appends the builder's batch as a complete Batch frame to dst. With
// a non-nil Compressor the record list is compressed when that makes it
// smaller. The builder keeps its contents until Reset.
func (b *BatchBuilder) Encode(dst []byte, c *Compressor) ([]byte, BatchInfo, error) {
	if b.n == 0 {
		return dst, BatchInfo{}, fmt.Errorf("syncproto: empty batch")
	}
	raw := b.rawList()
	data, codec := raw, CodecNone
	if c != nil {
		z := c.enc.EncodeAll(raw, make([]byte, 0, len(raw)))
		if len(z) < len(raw) {
			data, codec = z, CodecZstd
		}
	}
	hdr, err := encMode.Marshal(batchHeader{First: b.first, Count: uint32(b.n), Codec: codec, RawLen: uint32(len(raw))})
	if err != nil {
		return dst, BatchInfo{}, fmt.Errorf("syncproto: encode batch header: %w", err)
	}
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(1+len(hdr)+len(data)))
	dst = append(dst, byte(TypeBatch))
	dst = append(dst, hdr...)
	dst = append(dst, data...)
	return dst, BatchInfo{First: b.first, Count: b.n, RawBytes: len(raw), WireBytes: len(dst) - start, Codec: codec}, nil
}

// BatchDecoder decodes Batch frames within a session's limits. Decode is
// safe for concurrent use.
type BatchDecoder struct {
	limits Limits
	maxRaw int
	dec    *zstd.Decoder
}

// NewBatchDecoder returns a decoder refusing batches outside l.
func NewBatchDecoder(l Limits) (*BatchDecoder, error) {
	l = l.WithDefaults()
	maxRaw := max(l.MaxBatchBytes, rawListSize(1, l.MaxRecordBytes))
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(uint64(maxRaw)),
		zstd.WithDecoderMaxWindow(uint64(max(maxRaw, zstd.MinWindowSize))),
		zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return nil, fmt.Errorf("syncproto: zstd decoder: %w", err)
	}
	return &BatchDecoder{limits: l, maxRaw: maxRaw, dec: dec}, nil
}

// Close releases the decoder.
func (d *BatchDecoder) Close() { d.dec.Close() }

// Decode decodes a Batch frame body. Every length is checked against the
// limits before the memory it names is allocated.
func (d *BatchDecoder) Decode(body []byte) (Batch, error) {
	var h batchHeader
	data, err := decMode.UnmarshalFirst(body, &h)
	if err != nil {
		return Batch{}, malformed("Batch header: %v", err)
	}
	switch {
	case h.First == 0:
		return Batch{}, malformed("Batch: first sequence 0")
	case h.First+uint64(h.Count) < h.First:
		return Batch{}, malformed("Batch: sequence overflow")
	case !d.limits.fits(int(h.Count), int(h.RawLen)):
		return Batch{}, malformed("Batch: %d records in %d bytes is over the limits", h.Count, h.RawLen)
	}
	raw := data
	switch h.Codec {
	case CodecNone:
		if len(data) != int(h.RawLen) {
			return Batch{}, malformed("Batch: %d data bytes, header says %d", len(data), h.RawLen)
		}
	case CodecZstd:
		raw, err = d.dec.DecodeAll(data, make([]byte, 0, h.RawLen))
		if err != nil {
			return Batch{}, malformed("Batch: zstd: %v", err)
		}
		if len(raw) != int(h.RawLen) {
			return Batch{}, malformed("Batch: %d bytes decompressed, header says %d", len(raw), h.RawLen)
		}
	default:
		return Batch{}, malformed("Batch: unknown codec %d", h.Codec)
	}
	recs, err := parseRawList(raw, int(h.Count))
	if err != nil {
		return Batch{}, err
	}
	return Batch{First: h.First, Records: recs, RawBytes: len(raw), WireBytes: FrameHeaderSize + len(body), Codec: h.Codec}, nil
}

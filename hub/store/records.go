package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record as a consumer sees it. Offset is filled by decoding.
type Record struct {
	Offset    int64
	Timestamp int64 // milliseconds since the epoch
	Key       []byte
	Value     []byte
	Headers   []Header
}

// AppendBatch encodes recs as one uncompressed v2 record batch (base offset
// 0, no producer) appended to dst. recs must not be empty.
func AppendBatch(dst []byte, recs []Record) []byte { return AppendProducerBatch(dst, -1, recs) }

// AppendProducerBatch is AppendBatch with the batch's producer ID set
// (producer epoch 0, base sequence -1).
func AppendProducerBatch(dst []byte, producerID int64, recs []Record) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, BatchHeaderSize)...)
	first, maxTS := recs[0].Timestamp, recs[0].Timestamp
	for _, r := range recs {
		if r.Timestamp < first {
			first = r.Timestamp
		}
		if r.Timestamp > maxTS {
			maxTS = r.Timestamp
		}
	}
	var body []byte
	for i, r := range recs {
		body = body[:0]
		body = append(body, 0) // attributes
		body = binary.AppendVarint(body, r.Timestamp-first)
		body = binary.AppendVarint(body, int64(i))
		body = appendVarBytes(body, r.Key)
		body = appendVarBytes(body, r.Value)
		body = binary.AppendVarint(body, int64(len(r.Headers)))
		for _, h := range r.Headers {
			body = binary.AppendVarint(body, int64(len(h.Key)))
			body = append(body, h.Key...)
			body = appendVarBytes(body, h.Value)
		}
		dst = binary.AppendVarint(dst, int64(len(body)))
		dst = append(dst, body...)
	}
	b := dst[start:]
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-logOverhead))
	b[offMagic] = 2
	binary.BigEndian.PutUint32(b[offLastDelta:], uint32(len(recs)-1))
	binary.BigEndian.PutUint64(b[offFirstTimestamp:], uint64(first))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(maxTS))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(producerID))
	epoch := uint16(0)
	if producerID < 0 {
		epoch = ^uint16(0) // -1
	}
	binary.BigEndian.PutUint16(b[offProducerEpoch:], epoch)
	binary.BigEndian.PutUint32(b[offBaseSequence:], ^uint32(0)) // -1
	binary.BigEndian.PutUint32(b[offRecordCount:], uint32(len(recs)))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return dst
}

func appendVarBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// DecodeRecords decodes the records of one uncompressed v2 batch (as
// validated by ParseBatchHeader). Slices alias batch. Every length is
// checked against the remaining bytes before use.
func DecodeRecords(batch []byte, info BatchInfo, fn func(Record) error) error {
	if info.Compression() != 0 {
		return fmt.Errorf("%w: compressed batch (codec %d)", ErrBadBatch, info.Compression())
	}
	b := batch[BatchHeaderSize:info.Size]
	if int(info.RecordCount) > len(b) {
		return fmt.Errorf("%w: %d records in %d bytes", ErrBadBatch, info.RecordCount, len(b))
	}
	for i := int32(0); i < info.RecordCount; i++ {
		l, n := binary.Varint(b)
		if n <= 0 || l < 0 || l > int64(len(b)-n) {
			return fmt.Errorf("%w: record %d length", ErrBadBatch, i)
		}
		rec := b[n : n+int(l)]
		b = b[n+int(l):]
		r, err := decodeRecord(rec, info)
		if err != nil {
			return fmt.Errorf("%w: record %d: %v", ErrBadBatch, i, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	l := r.varint()
	if r.err != nil || l < 0 {
		return nil
	}
	if l > int64(len(r.b)) {
		r.err = fmt.Errorf("length %d past end", l)
		return nil
	}
	v := r.b[:l:l]
	r.b = r.b[l:]
	return v
}

func decodeRecord(b []byte, info BatchInfo) (Record, error) {
	if len(b) < 1 {
		return Record{}, fmt.Errorf("empty record")
	}
	r := reader{b: b[1:]}
	tsDelta := r.varint()
	offDelta := r.varint()
	rec := Record{Timestamp: info.FirstTimestamp + tsDelta, Offset: info.BaseOffset + offDelta}
	rec.Key = r.bytes()
	rec.Value = r.bytes()
	nh := r.varint()
	if r.err == nil && (nh < 0 || nh > int64(len(r.b))) {
		return Record{}, fmt.Errorf("%d headers", nh)
	}
	for j := int64(0); j < nh && r.err == nil; j++ {
		k := r.bytes()
		v := r.bytes()
		rec.Headers = append(rec.Headers, Header{Key: string(k), Value: v})
	}
	if r.err != nil {
		return Record{}, r.err
	}
	return rec, nil
}

// ValidateRecords walks the records of an uncompressed batch without
// allocating: every record and field length must fit, record i must have
// offset delta i, the count must match the header, and nothing may follow
// the last record.
func ValidateRecords(batch []byte, info BatchInfo) error {
	if info.Compression() != 0 {
		return fmt.Errorf("%w: compressed batch (codec %d)", ErrBadBatch, info.Compression())
	}
	b := batch[BatchHeaderSize:info.Size]
	for i := int32(0); i < info.RecordCount; i++ {
		l, n := binary.Varint(b)
		if n <= 0 || l < 1 || l > int64(len(b)-n) {
			return fmt.Errorf("%w: record %d length", ErrBadBatch, i)
		}
		r := reader{b: b[n+1 : n+int(l)]} // after the attributes byte
		b = b[n+int(l):]
		r.varint() // timestamp delta
		if od := r.varint(); r.err == nil && od != int64(i) {
			return fmt.Errorf("%w: record %d has offset delta %d", ErrBadBatch, i, od)
		}
		r.skip() // key
		r.skip() // value
		nh := r.varint()
		if r.err == nil && (nh < 0 || nh > int64(len(r.b))) {
			return fmt.Errorf("%w: record %d: %d headers", ErrBadBatch, i, nh)
		}
		for j := int64(0); j < nh && r.err == nil; j++ {
			r.skip()
			r.skip()
		}
		if r.err == nil && len(r.b) != 0 {
			r.err = fmt.Errorf("%d bytes after the headers", len(r.b))
		}
		if r.err != nil {
			return fmt.Errorf("%w: record %d: %v", ErrBadBatch, i, r.err)
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d bytes after the last record", ErrBadBatch, len(b))
	}
	return nil
}

// skip passes over a length-prefixed field (-1: null).
func (r *reader) skip() {
	l := r.varint()
	if r.err != nil || l < 0 {
		return
	}
	if l > int64(len(r.b)) {
		r.err = fmt.Errorf("length %d past end", l)
		return
	}
	r.b = r.b[l:]
}

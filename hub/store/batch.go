package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Layout of a Kafka v2 RecordBatch header (all big endian). Offsets are
// byte positions inside the batch.
const (
	offBaseOffset     = 0
	offLength         = 8
	offLeaderEpoch    = 12
	offMagic          = 16
	offCRC            = 17
	offAttributes     = 21
	offLastDelta      = 23
	offFirstTimestamp = 27
	offMaxTimestamp   = 35
	offProducerID     = 43
	offProducerEpoch  = 51
	offBaseSequence   = 53
	offRecordCount    = 57

	// BatchHeaderSize is the size of a v2 RecordBatch header.
	BatchHeaderSize = 61
	// logOverhead is the part of the header not counted by the length
	// field (base offset and the length itself).
	logOverhead = 12
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchInfo is the decoded header of one stored batch.
type BatchInfo struct {
	BaseOffset      int64
	LastOffset      int64
	Size            int // whole batch, header included
	FirstTimestamp  int64
	MaxTimestamp    int64
	Attributes      int16
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	RecordCount     int32
	LastOffsetDelta int32
}

// Compression returns the codec bits of the batch attributes (0 = none).
func (b BatchInfo) Compression() int { return int(b.Attributes & 0x7) }

// IsControl reports a transaction control batch.
func (b BatchInfo) IsControl() bool { return b.Attributes&0x20 != 0 }

// ParseBatchHeader validates the framing and CRC of the batch at the start
// of buf and returns its header. maxSize bounds the declared length before
// anything is trusted. Errors wrap ErrBadBatch; a batch whose declared
// length runs past buf wraps ErrShortBatch.
func ParseBatchHeader(buf []byte, maxSize int) (BatchInfo, error) {
	if len(buf) < logOverhead {
		return BatchInfo{}, fmt.Errorf("%w: %d header bytes", ErrShortBatch, len(buf))
	}
	length := int(int32(binary.BigEndian.Uint32(buf[offLength:])))
	if length < BatchHeaderSize-logOverhead {
		return BatchInfo{}, fmt.Errorf("%w: length %d", ErrBadBatch, length)
	}
	if length > maxSize-logOverhead {
		return BatchInfo{}, fmt.Errorf("%w: batch of %d bytes (limit %d)", ErrTooLarge, length+logOverhead, maxSize)
	}
	size := length + logOverhead
	if len(buf) < size {
		return BatchInfo{}, fmt.Errorf("%w: want %d bytes, have %d", ErrShortBatch, size, len(buf))
	}
	b := buf[:size]
	if b[offMagic] != 2 {
		return BatchInfo{}, fmt.Errorf("%w: magic %d", ErrBadBatch, b[offMagic])
	}
	want := binary.BigEndian.Uint32(b[offCRC:])
	if got := crc32.Checksum(b[offAttributes:], castagnoli); got != want {
		return BatchInfo{}, fmt.Errorf("%w: crc %08x, want %08x", ErrBadBatch, got, want)
	}
	info := BatchInfo{
		BaseOffset:      int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		Size:            size,
		Attributes:      int16(binary.BigEndian.Uint16(b[offAttributes:])),
		LastOffsetDelta: int32(binary.BigEndian.Uint32(b[offLastDelta:])),
		FirstTimestamp:  int64(binary.BigEndian.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:    int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		ProducerID:      int64(binary.BigEndian.Uint64(b[offProducerID:])),
		ProducerEpoch:   int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:    int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		RecordCount:     int32(binary.BigEndian.Uint32(b[offRecordCount:])),
	}
	if info.LastOffsetDelta < 0 || info.RecordCount < 0 {
		return BatchInfo{}, fmt.Errorf("%w: negative count", ErrBadBatch)
	}
	info.LastOffset = info.BaseOffset + int64(info.LastOffsetDelta)
	return info, nil
}

// SetBaseOffset rewrites the base offset of the batch at the start of b. The
// base offset is outside the CRC, so the checksum stays valid.
func SetBaseOffset(b []byte, off int64) { binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off)) }

// setLeaderEpoch rewrites the partition leader epoch (outside the CRC).
func setLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SplitBatches validates a concatenation of batches (as sent in a Produce
// request) and returns their headers. Any malformed batch fails the whole
// set; a trailing partial batch is an error too.
func SplitBatches(buf []byte, maxSize int) ([]BatchInfo, error) {
	var out []BatchInfo
	for len(buf) > 0 {
		info, err := ParseBatchHeader(buf, maxSize)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
		buf = buf[info.Size:]
	}
	return out, nil
}

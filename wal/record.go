package wal

import (
	"encoding/binary"
	"hash/crc32"
)

// Record frame, little-endian:
//
//	0      4      8            16
//	+------+------+------------+---------------+
//	| len  | crc  | seq        | payload (len) |
//	+------+------+------------+---------------+
//
// crc is CRC32C over len, seq and payload (bytes 0–4, 8–16 and the payload),
// so a flipped bit anywhere, including in the length, fails the check. The
// seq makes every frame self-identifying: recovery uses it to tell a torn
// tail from damage with good records after it, and a frame can never be
// mistaken for one at another position.
const (
	frameHeaderSize = 16
	// MaxRecordLimit is the hard cap on a record's payload. Decoders refuse
	// larger lengths before allocating; Options.MaxRecordSize may only lower it.
	MaxRecordLimit = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameSize is the on-disk size of a record with n payload bytes.
func frameSize(n int) int { return frameHeaderSize + n }

// appendFrame appends the framed record to dst.
func appendFrame(dst []byte, seq uint64, payload []byte) []byte {
	var h [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[8:16], seq)
	crc := crc32.Update(0, castagnoli, h[0:4])
	crc = crc32.Update(crc, castagnoli, h[8:16])
	crc = crc32.Update(crc, castagnoli, payload)
	binary.LittleEndian.PutUint32(h[4:8], crc)
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

// frameHeader is a decoded, not yet verified, header.
type frameHeader struct {
	length uint32
	crc    uint32
	seq    uint64
}

func parseHeader(b []byte) frameHeader {
	return frameHeader{
		length: binary.LittleEndian.Uint32(b[0:4]),
		crc:    binary.LittleEndian.Uint32(b[4:8]),
		seq:    binary.LittleEndian.Uint64(b[8:16]),
	}
}

// verify reports whether frame (header and payload, exactly) is intact.
func (h frameHeader) verify(frame []byte) bool {
	crc := crc32.Update(0, castagnoli, frame[0:4])
	crc = crc32.Update(crc, castagnoli, frame[8:16])
	crc = crc32.Update(crc, castagnoli, frame[frameHeaderSize:])
	return crc == h.crc
}

// DecodeFrame decodes one frame at the start of b, expecting sequence
// wantSeq (0 accepts any). It returns the payload (aliasing b) and the
// frame's size. It never allocates and refuses lengths over maxLen.
func DecodeFrame(b []byte, wantSeq uint64, maxLen int) (seq uint64, payload []byte, size int, err error) {
	if len(b) < frameHeaderSize {
		return 0, nil, 0, errShortFrame
	}
	h := parseHeader(b)
	if int64(h.length) > int64(maxLen) {
		return 0, nil, 0, errBadLength
	}
	size = frameSize(int(h.length))
	if len(b) < size {
		return 0, nil, 0, errShortFrame
	}
	if !h.verify(b[:size]) {
		return 0, nil, 0, errBadChecksum
	}
	if wantSeq != 0 && h.seq != wantSeq {
		return 0, nil, 0, errBadSequence
	}
	return h.seq, b[frameHeaderSize:size], size, nil
}

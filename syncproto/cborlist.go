package syncproto

import "encoding/binary"

// The record list of a batch is a CBOR array of byte strings, encoded and
// decoded here directly: it is the hot path, and the decoder returns slices
// of its input instead of copies. Only definite lengths are accepted.

const (
	majorBytes = 2
	majorArray = 4
)

// cborHeadLen is the size of a CBOR head carrying argument v.
func cborHeadLen(v uint64) int {
	switch {
	case v < 24:
		return 1
	case v <= 0xff:
		return 2
	case v <= 0xffff:
		return 3
	case v <= 0xffffffff:
		return 5
	}
	return 9
}

// rawListSize is the encoded size of a list of n records of total payload
// bytes, assuming each item head is as long as the longest.
func rawListSize(n, payload int) int {
	return cborHeadLen(uint64(n)) + n*cborHeadLen(uint64(payload)) + payload
}

// appendHead appends the shortest CBOR head of the given major type.
func appendHead(dst []byte, major byte, v uint64) []byte {
	m := major << 5
	switch {
	case v < 24:
		return append(dst, m|byte(v))
	case v <= 0xff:
		return append(dst, m|24, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, m|25), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(dst, m|26), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, m|27), v)
}

// readHead parses a definite-length CBOR head at the start of b.
func readHead(b []byte) (major byte, v uint64, n int, err error) {
	if len(b) == 0 {
		return 0, 0, 0, malformed("record list: truncated")
	}
	major, info := b[0]>>5, b[0]&0x1f
	switch {
	case info < 24:
		return major, uint64(info), 1, nil
	case info == 24 && len(b) >= 2:
		return major, uint64(b[1]), 2, nil
	case info == 25 && len(b) >= 3:
		return major, uint64(binary.BigEndian.Uint16(b[1:])), 3, nil
	case info == 26 && len(b) >= 5:
		return major, uint64(binary.BigEndian.Uint32(b[1:])), 5, nil
	case info == 27 && len(b) >= 9:
		return major, binary.BigEndian.Uint64(b[1:]), 9, nil
	case info >= 28:
		return 0, 0, 0, malformed("record list: indefinite or reserved length")
	}
	return 0, 0, 0, malformed("record list: truncated")
}

// parseRawList splits an encoded record list of exactly count items. The
// returned slices alias b.
func parseRawList(b []byte, count int) ([][]byte, error) {
	major, n, used, err := readHead(b)
	if err != nil {
		return nil, err
	}
	if major != majorArray || n != uint64(count) {
		return nil, malformed("record list: not an array of %d items", count)
	}
	// Every item takes at least one byte: bound before allocating.
	if count > len(b)-used {
		return nil, malformed("record list: %d items in %d bytes", count, len(b))
	}
	b = b[used:]
	recs := make([][]byte, count)
	for i := range recs {
		major, n, used, err := readHead(b)
		if err != nil {
			return nil, err
		}
		if major != majorBytes {
			return nil, malformed("record list: item %d is not a byte string", i)
		}
		if n > uint64(len(b)-used) {
			return nil, malformed("record list: item %d runs past the end", i)
		}
		end := used + int(n)
		recs[i] = b[used:end:end]
		b = b[end:]
	}
	if len(b) != 0 {
		return nil, malformed("record list: %d trailing bytes", len(b))
	}
	return recs, nil
}

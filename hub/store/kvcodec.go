package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// DecodeKVLog walks the frames of a KV file, calling fn for each entry of
// each valid frame, and returns the length of the valid prefix. Damage
// followed by a valid frame wraps ErrCorrupt; otherwise it is a torn tail.
func DecodeKVLog(raw []byte, fn func(KVEntry)) (int, error) {
	pos := 0
	for pos < len(raw) {
		entries, n, err := decodeKVFrame(raw[pos:])
		if err != nil {
			for q := pos + 1; q+8 <= len(raw); q++ {
				if _, _, e := decodeKVFrame(raw[q:]); e == nil {
					return pos, fmt.Errorf("%w: kv frame at byte %d: %v", ErrCorrupt, pos, err)
				}
			}
			return pos, nil
		}
		for _, e := range entries {
			fn(e)
		}
		pos += n
	}
	return pos, nil
}

func decodeKVFrame(b []byte) ([]KVEntry, int, error) {
	if len(b) < 8 {
		return nil, 0, ErrShortBatch
	}
	n := binary.BigEndian.Uint32(b)
	if n == 0 || n > maxKVFrame {
		return nil, 0, fmt.Errorf("%w: kv frame length %d", ErrBadBatch, n)
	}
	if uint64(len(b)) < 8+uint64(n) {
		return nil, 0, ErrShortBatch
	}
	payload := b[8 : 8+n]
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return nil, 0, fmt.Errorf("%w: kv frame crc", ErrBadBatch)
	}
	var out []KVEntry
	r := bytes.NewReader(payload)
	for r.Len() > 0 {
		flag, _ := r.ReadByte()
		if flag > 1 {
			return nil, 0, fmt.Errorf("%w: kv entry flag %d", ErrBadBatch, flag)
		}
		kl, err := binary.ReadUvarint(r)
		if err != nil || kl > maxKVKey || kl > uint64(r.Len()) {
			return nil, 0, fmt.Errorf("%w: kv key", ErrBadBatch)
		}
		key := make([]byte, kl)
		r.Read(key)
		vl, err := binary.ReadUvarint(r)
		if err != nil || vl > uint64(r.Len()) {
			return nil, 0, fmt.Errorf("%w: kv value", ErrBadBatch)
		}
		var val []byte
		if flag == 0 {
			val = make([]byte, vl)
			r.Read(val)
		} else if vl != 0 {
			return nil, 0, fmt.Errorf("%w: kv tombstone with value", ErrBadBatch)
		}
		out = append(out, KVEntry{Key: string(key), Value: val})
	}
	return out, int(8 + n), nil
}

func encodeKVFrame(dst []byte, entries []KVEntry) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	for _, e := range entries {
		if len(e.Key) > maxKVKey {
			return nil, fmt.Errorf("%w: key of %d bytes", ErrTooLarge, len(e.Key))
		}
		flag := byte(0)
		if e.Value == nil {
			flag = 1
		}
		dst = append(dst, flag)
		dst = binary.AppendUvarint(dst, uint64(len(e.Key)))
		dst = append(dst, e.Key...)
		dst = binary.AppendUvarint(dst, uint64(len(e.Value)))
		dst = append(dst, e.Value...)
	}
	n := len(dst) - start - 8
	if n == 0 || n > maxKVFrame {
		return nil, fmt.Errorf("%w: frame of %d bytes", ErrTooLarge, n)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[start+8:], castagnoli))
	return dst, nil
}

// encodeKVEntries encodes entries as as many frames as their size needs.
func encodeKVEntries(entries []KVEntry) ([]byte, error) {
	var buf []byte
	var chunk []KVEntry
	chunkBytes := 0
	for i, e := range entries {
		chunk = append(chunk, e)
		chunkBytes += len(e.Key) + len(e.Value) + 24
		if i == len(entries)-1 || chunkBytes+len(entries[i+1].Key)+len(entries[i+1].Value)+24 > maxKVFrame/2 {
			var err error
			if buf, err = encodeKVFrame(buf, chunk); err != nil {
				return nil, err
			}
			chunk, chunkBytes = chunk[:0], 0
		}
	}
	return buf, nil
}

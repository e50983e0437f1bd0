package store

import (
	"fmt"
	"sort"
)

// ReadResult is what Read returns besides the batches.
type ReadResult struct {
	LogStart      int64
	HighWatermark int64
}

// Read returns whole batches starting with the one that holds offset, up to
// maxBytes (at least one batch when minOne), never past the high watermark,
// from one segment. The first batch may start before offset; consumers skip
// the records below it, as with Kafka. Reading at the high watermark returns
// no data. Offsets outside [log start, high watermark] wrap
// ErrOffsetOutOfRange.
func (p *Partition) Read(offset int64, maxBytes int, minOne bool) ([]byte, ReadResult, error) {
	return p.ReadInto(nil, offset, maxBytes, minOne)
}

// ReadInto is Read appending to dst, so a caller can read several
// partitions into one buffer.
func (p *Partition) ReadInto(dst []byte, offset int64, maxBytes int, minOne bool) ([]byte, ReadResult, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	res := ReadResult{LogStart: p.start, HighWatermark: p.hw}
	if p.closed {
		return dst, res, ErrClosed
	}
	if offset < p.start || offset > p.hw {
		return dst, res, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, p.start, p.hw)
	}
	if offset == p.hw {
		return dst, res, nil
	}
	si := sort.Search(len(p.segs), func(i int) bool { return p.segs[i].base > offset }) - 1
	for ; si < len(p.segs); si++ {
		s := p.segs[si]
		i := s.find(offset)
		if i == len(s.index) {
			continue
		}
		first := s.index[i]
		endPos := first.pos
		for j := i; j < len(s.index); j++ {
			e := s.index[j]
			if e.last >= p.hw {
				break
			}
			if endPos+int64(e.size)-first.pos > int64(maxBytes) && (endPos > first.pos || !minOne) {
				break
			}
			endPos += int64(e.size)
		}
		n := int(endPos - first.pos)
		if n == 0 {
			return dst, res, nil
		}
		l := len(dst)
		dst = append(dst, make([]byte, n)...)
		if _, err := s.f.ReadAt(dst[l:], first.pos); err != nil {
			return dst[:l], res, fmt.Errorf("store: read %s: %w", s.path, err)
		}
		return dst, res, nil
	}
	return dst, res, nil
}

// OffsetForTime returns the offset and timestamp of the first record whose
// timestamp is >= ts, or (-1, -1) if there is none below the high
// watermark. Inside an uncompressed batch the record is exact; for a
// compressed batch it is the batch's first record.
func (p *Partition) OffsetForTime(ts int64) (offset, timestamp int64, err error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return -1, -1, ErrClosed
	}
	for _, s := range p.segs {
		if s.maxTimestamp() < ts {
			continue
		}
		i := s.findTime(ts)
		if i == len(s.index) || s.index[i].last >= p.hw {
			return -1, -1, nil
		}
		e := s.index[i]
		buf := make([]byte, e.size)
		if _, err := s.f.ReadAt(buf, e.pos); err != nil {
			return -1, -1, fmt.Errorf("store: read %s: %w", s.path, err)
		}
		info, err := ParseBatchHeader(buf, len(buf))
		if err != nil {
			return -1, -1, err
		}
		offset, timestamp = e.base, info.MaxTimestamp
		if info.Compression() != 0 {
			return offset, timestamp, nil
		}
		found := false
		err = DecodeRecords(buf, info, func(r Record) error {
			if !found && r.Timestamp >= ts {
				offset, timestamp, found = r.Offset, r.Timestamp, true
			}
			return nil
		})
		return offset, timestamp, err
	}
	return -1, -1, nil
}

package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgelog/edgelog/internal/vfs"
)

// segmentSuffix names segment files: <20-digit base offset>.log.
const segmentSuffix = ".log"

// indexEntry locates one batch inside a segment. The in-memory offset and
// time indexes of a segment are the same slice: entries are sorted by base
// offset, and max timestamps are made monotonic (maxTSSoFar) so a binary
// search by time is valid.
type indexEntry struct {
	base, last int64 // first and last offset in the batch
	pos        int64 // byte position of the batch in the file
	size       int32
	maxTSSoFar int64 // max timestamp of this and all earlier batches of the segment
}

// segment is one file of a partition log. A partition owns its segments;
// all fields are protected by the owning Partition's mu.
type segment struct {
	base    int64 // base offset (file name)
	path    string
	f       vfs.File // opened O_APPEND: every write lands at the end
	size    int64
	index   []indexEntry
	created time.Time        // first write (or file mod time when recovered)
	marks   map[string]int64 // producer marks carried by this segment's batches
}

func segmentPath(dir string, base int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, segmentSuffix))
}

// listSegments returns the base offsets of the segment files in dir, sorted.
func listSegments(fsys vfs.FS, dir string) ([]int64, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var bases []int64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, segmentSuffix) || e.IsDir() {
			continue
		}
		b, err := strconv.ParseInt(strings.TrimSuffix(name, segmentSuffix), 10, 64)
		if err != nil || b < 0 {
			continue
		}
		bases = append(bases, b)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

func createSegment(fsys vfs.FS, dir string, base int64) (*segment, error) {
	p := segmentPath(dir, base)
	f, err := fsys.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: create segment: %w", err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: sync dir %s: %w", dir, err)
	}
	return &segment{base: base, path: p, f: f, created: time.Now()}, nil
}

// recoverResult is what scanning a segment found.
type recoverResult struct {
	truncatedBytes int64 // torn tail bytes removed
}

// openSegment opens and scans an existing segment: every batch's framing and
// CRC is checked and the index rebuilt. onBatch sees each valid batch. When
// tail is true (the newest segment) a torn tail is truncated; damage that is
// followed by valid data, or any damage in an older segment, is ErrCorrupt.
func openSegment(fsys vfs.FS, dir string, base int64, maxBatch int, tail bool, onBatch func(*segment, []byte, BatchInfo)) (*segment, recoverResult, error) {
	var res recoverResult
	p := segmentPath(dir, base)
	f, err := fsys.OpenFile(p, os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, res, fmt.Errorf("store: open segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, res, fmt.Errorf("store: stat segment: %w", err)
	}
	s := &segment{base: base, path: p, f: f, created: st.ModTime()}
	fail := func(err error) (*segment, recoverResult, error) {
		f.Close()
		return nil, res, err
	}
	fileSize := st.Size()
	var pos int64
	next := base
	var maxTS int64 = -1
	hdr := make([]byte, logOverhead)
	var buf []byte
	for pos < fileSize {
		// bad decides whether damage at pos is a torn tail (nil: stop
		// here and truncate) or corruption.
		bad := func(why error) error {
			if !tail || validBatchAfter(f, pos+1, fileSize, maxBatch) {
				return fmt.Errorf("%w: %s at byte %d (offset %d): %v", ErrCorrupt, p, pos, next, why)
			}
			return nil
		}
		if _, err := f.ReadAt(hdr, pos); err != nil {
			if !errors.Is(err, io.EOF) {
				return fail(fmt.Errorf("store: read segment: %w", err))
			}
			if e := bad(ErrShortBatch); e != nil {
				return fail(e)
			}
			break
		}
		length := int64(int32(binary.BigEndian.Uint32(hdr[offLength:])))
		if length < BatchHeaderSize-logOverhead || length > int64(maxBatch-logOverhead) || pos+logOverhead+length > fileSize {
			if e := bad(fmt.Errorf("%w: length %d", ErrBadBatch, length)); e != nil {
				return fail(e)
			}
			break
		}
		size := int(length) + logOverhead
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := f.ReadAt(buf, pos); err != nil {
			return fail(fmt.Errorf("store: read segment: %w", err))
		}
		info, err := ParseBatchHeader(buf, maxBatch)
		if err == nil && info.BaseOffset != next {
			err = fmt.Errorf("%w: base offset %d, want %d", ErrBadBatch, info.BaseOffset, next)
		}
		if err != nil {
			if e := bad(err); e != nil {
				return fail(e)
			}
			break
		}
		if info.MaxTimestamp > maxTS {
			maxTS = info.MaxTimestamp
		}
		s.index = append(s.index, indexEntry{base: info.BaseOffset, last: info.LastOffset, pos: pos, size: int32(size), maxTSSoFar: maxTS})
		if onBatch != nil {
			onBatch(s, buf, info)
		}
		pos += int64(size)
		next = info.LastOffset + 1
	}
	if pos < fileSize {
		res.truncatedBytes = fileSize - pos
		if err := f.Truncate(pos); err != nil {
			return fail(fmt.Errorf("store: truncate torn tail: %w", err))
		}
		if err := f.Sync(); err != nil {
			return fail(fmt.Errorf("store: sync after truncate: %w", err))
		}
	}
	s.size = pos
	return s, res, nil
}

// validBatchAfter reports whether any position in [from, end) starts a batch
// that passes its CRC: if so, damage before it is corruption, not a torn
// tail. Only recovery runs this, and only once per damaged segment.
func validBatchAfter(f vfs.File, from, end int64, maxBatch int) bool {
	if from >= end {
		return false
	}
	data := make([]byte, end-from)
	if _, err := f.ReadAt(data, from); err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	for i := 0; i+BatchHeaderSize <= len(data); i++ {
		if data[i+offMagic] != 2 {
			continue
		}
		if _, err := ParseBatchHeader(data[i:], maxBatch); err == nil {
			return true
		}
	}
	return false
}

// noteMark raises the segment's mark for producer to seq.
func (s *segment) noteMark(producer string, seq int64) {
	if s.marks == nil {
		s.marks = map[string]int64{}
	}
	if cur, ok := s.marks[producer]; !ok || seq > cur {
		s.marks[producer] = seq
	}
}

// nextOffset is the offset after the last batch in the segment.
func (s *segment) nextOffset() int64 {
	if len(s.index) == 0 {
		return s.base
	}
	return s.index[len(s.index)-1].last + 1
}

// maxTimestamp is the largest batch timestamp in the segment, -1 if empty.
func (s *segment) maxTimestamp() int64 {
	if len(s.index) == 0 {
		return -1
	}
	return s.index[len(s.index)-1].maxTSSoFar
}

// find returns the index of the first batch whose last offset is >= off,
// or len(index).
func (s *segment) find(off int64) int {
	return sort.Search(len(s.index), func(i int) bool { return s.index[i].last >= off })
}

// findTime returns the index of the first batch whose max timestamp (so
// far) is >= ts, or len(index).
func (s *segment) findTime(ts int64) int {
	return sort.Search(len(s.index), func(i int) bool { return s.index[i].maxTSSoFar >= ts })
}

func (s *segment) close() error { return s.f.Close() }

package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/edgelog/edgelog/internal/vfs"
)

// Segment file layout: a 24-byte header, then frames back to back.
//
//	0         8         12        16             24
//	+---------+---------+---------+--------------+----------
//	| magic   | version | crc     | first seq    | frames...
//	+---------+---------+---------+--------------+----------
//
// crc is CRC32C over magic, version and first seq. The file is named after
// its first sequence (%020d.seg), and the name and header must agree.
const (
	segmentHeaderSize = 24
	segmentVersion    = 1
	segmentSuffix     = ".seg"
)

var segmentMagic = [8]byte{'e', 'd', 'g', 'e', 'l', 'o', 'g', 'W'}

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentSuffix) }

// parseSegmentName returns the first sequence encoded in a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(base) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(base, 10, 64)
	return n, err == nil && n > 0
}

func encodeSegmentHeader(first uint64) []byte {
	b := make([]byte, segmentHeaderSize)
	copy(b[0:8], segmentMagic[:])
	binary.LittleEndian.PutUint32(b[8:12], segmentVersion)
	binary.LittleEndian.PutUint64(b[16:24], first)
	binary.LittleEndian.PutUint32(b[12:16], segmentHeaderCRC(b))
	return b
}

func segmentHeaderCRC(b []byte) uint32 {
	crc := crc32.Update(0, castagnoli, b[0:12])
	return crc32.Update(crc, castagnoli, b[16:24])
}

// checkSegmentHeader verifies a header read from the segment named for first.
func checkSegmentHeader(b []byte, first uint64) error {
	switch {
	case len(b) < segmentHeaderSize:
		return errors.New("short segment header")
	case !bytes.Equal(b[0:8], segmentMagic[:]):
		return errors.New("bad segment magic")
	case binary.LittleEndian.Uint32(b[12:16]) != segmentHeaderCRC(b):
		return errors.New("segment header checksum mismatch")
	case binary.LittleEndian.Uint32(b[8:12]) != segmentVersion:
		return fmt.Errorf("unsupported segment version %d", binary.LittleEndian.Uint32(b[8:12]))
	case binary.LittleEndian.Uint64(b[16:24]) != first:
		return fmt.Errorf("header first sequence %d does not match file name", binary.LittleEndian.Uint64(b[16:24]))
	}
	return nil
}

// segment is one file of the log. first is fixed; the rest is owned as
// documented on Log.
type segment struct {
	first uint64
	path  string
	size  int64 // bytes on disk; for the active segment, protected by Log.mu
}

// listSegments returns the segment files in dir, ordered by first sequence.
func listSegments(fsys vfs.FS, dir string) ([]*segment, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []*segment
	for _, e := range entries {
		if first, ok := parseSegmentName(e.Name()); ok && !e.IsDir() {
			segs = append(segs, &segment{first: first, path: filepath.Join(dir, e.Name())})
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	return segs, nil
}

// window gives buffered random access to a file through ReadAt. The bytes
// it returns alias its buffer and are valid until the next call. Because
// segments are append-only, bytes once read stay true; a range the file does
// not (yet) hold in full is reported as io.ErrUnexpectedEOF.
type window struct {
	r   io.ReaderAt
	buf []byte
	off int64 // file offset of buf[0]
	n   int   // valid bytes in buf
}

const windowSize = 256 << 10

func newWindow(r io.ReaderAt) *window {
	return &window{r: r, buf: make([]byte, windowSize)}
}

func (w *window) get(off int64, n int) ([]byte, error) {
	if off >= w.off && off+int64(n) <= w.off+int64(w.n) {
		start := int(off - w.off)
		return w.buf[start : start+n], nil
	}
	if n > len(w.buf) {
		w.buf = make([]byte, n)
	}
	read, err := w.r.ReadAt(w.buf, off)
	w.off, w.n = off, read
	if read >= n {
		return w.buf[:n], nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}

// scanResult describes a segment's records as found on disk.
type scanResult struct {
	next    uint64 // sequence after the last good record
	goodEnd int64  // byte offset just past the last good record
	// damage is why the bytes from goodEnd on are not a record (nil if the
	// segment ends cleanly there).
	damage error
	// torn is true when no good record follows the damage: a torn or
	// zero-filled tail, repairable by truncating at goodEnd.
	torn bool
}

// scanSegment walks the frames of a segment (after its header) that holds
// size bytes, calling visit (if not nil) for each good record, and
// classifies any damage it stops at.
func scanSegment(r io.ReaderAt, size int64, first uint64, maxLen int, visit func(seq uint64, payload []byte) error) (scanResult, error) {
	w := newWindow(r)
	off, seq := int64(segmentHeaderSize), first
	for off < size {
		b, err := w.get(off, frameHeaderSize)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return scanResult{}, err
		}
		var reason error = errShortFrame
		if err == nil {
			h := parseHeader(b)
			if int64(h.length) <= int64(maxLen) && off+int64(frameSize(int(h.length))) <= size {
				frame, err := w.get(off, frameSize(int(h.length)))
				if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
					return scanResult{}, err
				}
				if err == nil {
					if _, payload, n, derr := DecodeFrame(frame, seq, maxLen); derr == nil {
						if visit != nil {
							if err := visit(seq, payload); err != nil {
								return scanResult{}, err
							}
						}
						off += int64(n)
						seq++
						continue
					} else {
						reason = derr
					}
				}
			} else if int64(h.length) > int64(maxLen) {
				reason = errBadLength
			}
		}
		later, err := goodFrameAfter(w, off+1, size, seq, maxLen)
		if err != nil {
			return scanResult{}, err
		}
		return scanResult{next: seq, goodEnd: off, damage: reason, torn: !later}, nil
	}
	return scanResult{next: seq, goodEnd: off}, nil
}

// goodFrameAfter reports whether any intact frame with a plausible sequence
// (≥ seq) starts at or after from. It is what separates a torn tail (nothing
// good after the damage) from corruption (good records after it).
func goodFrameAfter(w *window, from, size int64, seq uint64, maxLen int) (bool, error) {
	for p := from; p+frameHeaderSize <= size; p++ {
		b, err := w.get(p, frameHeaderSize)
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return false, nil
			}
			return false, err
		}
		h := parseHeader(b)
		// A frame at p can hold at most this many sequences before it.
		if h.seq < seq || h.seq-seq > uint64(p) || int64(h.length) > int64(maxLen) {
			continue
		}
		end := p + int64(frameSize(int(h.length)))
		if end > size {
			continue
		}
		frame, err := w.get(p, frameSize(int(h.length)))
		if err != nil {
			return false, err
		}
		if h.verify(frame) {
			return true, nil
		}
	}
	return false, nil
}

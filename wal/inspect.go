package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/edgelog/edgelog/internal/vfs"
)

// Report is what Inspect found in a log directory.
type Report struct {
	Dir      string
	Epoch    string
	Segments int
	Records  int64
	First    uint64 // first sequence on disk (0 if none)
	Last     uint64 // last good sequence (0 if none)
	// TornTail describes damage at the end of the last segment that Open
	// would repair by truncation ("" if none).
	TornTail string
	// Corrupt is damage Open cannot repair, nil if none.
	Corrupt *CorruptError
}

// Inspect reads the log in dir without changing it and without taking its
// lock (a running writer may be appending), calling visit for every good
// record in order. It stops at the first damage and reports it; a torn tail
// is reported in TornTail, anything else in Corrupt. visit's payload is
// valid only during the call.
func Inspect(dir string, visit func(seq uint64, payload []byte) error) (Report, error) {
	fsys := vfs.OS{}
	rep := Report{Dir: dir}
	m, merr := readMeta(fsys, dir)
	if merr != nil && !isNotExist(merr) {
		return rep, merr
	}
	rep.Epoch = m.Epoch
	segs, err := listSegments(fsys, dir)
	if err != nil {
		return rep, fmt.Errorf("wal: %w", err)
	}
	if len(segs) == 0 && merr != nil {
		return rep, fmt.Errorf("wal: no log in %s", dir)
	}
	rep.Segments = len(segs)
	var next uint64
	for i, seg := range segs {
		last := i == len(segs)-1
		if i == 0 {
			rep.First = seg.first
		} else if seg.first != next {
			rep.Corrupt = &CorruptError{Segment: filepath.Base(seg.path), Reason: fmt.Errorf("segment starts at %d, expected %d", seg.first, next)}
			return rep, nil
		}
		res, err := inspectSegment(fsys, seg, func(seq uint64, p []byte) error {
			rep.Records++
			rep.Last = seq
			if visit != nil {
				return visit(seq, p)
			}
			return nil
		})
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) && !last {
				rep.Corrupt = ce
				return rep, nil
			}
			if errors.As(err, &ce) && last {
				if ce.Offset == 0 && res.torn {
					rep.TornTail = ce.Error()
					return rep, nil
				}
				rep.Corrupt = ce
				return rep, nil
			}
			return rep, err
		}
		if res.damage != nil {
			ce := &CorruptError{Segment: filepath.Base(seg.path), Offset: res.goodEnd, Reason: res.damage}
			if last && res.torn {
				rep.TornTail = ce.Error()
			} else {
				rep.Corrupt = ce
			}
			return rep, nil
		}
		next = res.next
	}
	return rep, nil
}

func inspectSegment(fsys vfs.FS, seg *segment, visit func(uint64, []byte) error) (scanResult, error) {
	f, err := fsys.OpenFile(seg.path, os.O_RDONLY, 0)
	if err != nil {
		return scanResult{}, fmt.Errorf("wal: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return scanResult{}, fmt.Errorf("wal: %w", err)
	}
	hdr := make([]byte, segmentHeaderSize)
	n, err := f.ReadAt(hdr, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return scanResult{}, fmt.Errorf("wal: %w", err)
	}
	if herr := checkSegmentHeader(hdr[:n], seg.first); herr != nil {
		torn := n < segmentHeaderSize || isZero(hdr) && info.Size() <= segmentHeaderSize
		return scanResult{torn: torn}, &CorruptError{Segment: filepath.Base(seg.path), Reason: herr}
	}
	return scanSegment(f, info.Size(), seg.first, MaxRecordLimit, visit)
}

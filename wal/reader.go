package wal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/edgelog/edgelog/internal/vfs"
)

// Reader iterates over durable records in sequence order, waiting at the
// end for more. It never blocks appends: it reads segment files through its
// own handles and learns of new records from the durable sequence. A Reader
// is not safe for concurrent use; any number of Readers may run at once.
type Reader struct {
	l      *Log
	seq    uint64 // next sequence to return
	seg    *segment
	segEnd uint64 // first sequence of the next segment; 0: seg was active
	gen    uint64 // l.segGen when seg was looked up
	f      vfs.File
	w      *window
	off    int64 // offset of the frame for seq in seg
}

// NewReader returns a Reader positioned at from, which must lie in
// [First, Next].
func (l *Log) NewReader(from uint64) (*Reader, error) {
	if _, _, err := l.segmentFor(from); err != nil {
		return nil, err
	}
	return &Reader{l: l, seq: from}, nil
}

// Seq is the sequence the next call to Next will return.
func (r *Reader) Seq() uint64 { return r.seq }

// Next returns the next durable record, waiting for one if needed. The
// payload is valid until the following call. It returns ErrCompacted when
// the reader's position has been truncated away, ErrClosed when the log is
// closed, and a *CorruptError on damage.
func (r *Reader) Next(ctx context.Context) (uint64, []byte, error) {
	if r.seq > r.l.syncedSeq.Load() {
		if err := r.l.waitDurable(ctx, r.seq); err != nil {
			return 0, nil, err
		}
	}
	return r.read()
}

// TryNext is Next without waiting: ok is false when no durable record is
// available yet.
func (r *Reader) TryNext() (seq uint64, payload []byte, ok bool, err error) {
	if r.seq > r.l.syncedSeq.Load() {
		return 0, nil, false, nil
	}
	seq, payload, err = r.read()
	return seq, payload, err == nil, err
}

// read returns record r.seq, which is known durable.
func (r *Reader) read() (uint64, []byte, error) {
	if err := r.position(); err != nil {
		return 0, nil, err
	}
	maxLen := r.l.opts.MaxRecordSize
	hdr, err := r.w.get(r.off, frameHeaderSize)
	if err != nil {
		return 0, nil, r.corrupt(err)
	}
	h := parseHeader(hdr)
	if int64(h.length) > int64(MaxRecordLimit) {
		return 0, nil, r.corrupt(errBadLength)
	}
	frame, err := r.w.get(r.off, frameSize(int(h.length)))
	if err != nil {
		return 0, nil, r.corrupt(err)
	}
	seq, payload, n, err := DecodeFrame(frame, r.seq, max(maxLen, int(h.length)))
	if err != nil {
		return 0, nil, r.corrupt(err)
	}
	r.off += int64(n)
	r.seq++
	return seq, payload, nil
}

func (r *Reader) corrupt(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = errShortFrame
	}
	return &CorruptError{Segment: filepath.Base(r.seg.path), Offset: r.off, Reason: err}
}

// position makes r.f/r.off point at the frame for r.seq, moving to the next
// segment or re-finding the segment after truncation.
func (r *Reader) position() error {
	if r.f != nil {
		switch {
		case r.segEnd != 0 && r.seq < r.segEnd:
			return nil
		case r.segEnd == 0 && r.l.segGen.Load() == r.gen:
			return nil
		case r.segEnd == 0:
			// Segments changed; the active one may have rotated.
			gen := r.l.segGen.Load()
			seg, end, err := r.l.segmentFor(r.seq)
			if err != nil {
				return err
			}
			if seg == r.seg {
				r.gen, r.segEnd = gen, end
				return nil
			}
		}
		r.closeFile()
	}
	r.gen = r.l.segGen.Load()
	seg, end, err := r.l.segmentFor(r.seq)
	if err != nil {
		return err
	}
	f, err := r.l.opts.FS.OpenFile(seg.path, os.O_RDONLY, 0)
	if err != nil {
		if isNotExist(err) {
			return fmt.Errorf("%w: segment %s removed", ErrCompacted, filepath.Base(seg.path))
		}
		return fmt.Errorf("wal: %w", err)
	}
	r.seg, r.segEnd, r.f, r.w, r.off = seg, end, f, newWindow(f), segmentHeaderSize
	hdr, err := r.w.get(0, segmentHeaderSize)
	if err == nil {
		err = checkSegmentHeader(hdr, seg.first)
	}
	if err != nil {
		r.off = 0
		return r.corrupt(err)
	}
	return r.skipTo(r.seq)
}

// skipTo walks frames from the segment start to seq, verifying each.
func (r *Reader) skipTo(seq uint64) error {
	for s := r.seg.first; s < seq; s++ {
		hdr, err := r.w.get(r.off, frameHeaderSize)
		if err != nil {
			return r.corrupt(err)
		}
		h := parseHeader(hdr)
		if int64(h.length) > int64(MaxRecordLimit) {
			return r.corrupt(errBadLength)
		}
		frame, err := r.w.get(r.off, frameSize(int(h.length)))
		if err != nil {
			return r.corrupt(err)
		}
		if _, _, _, err := DecodeFrame(frame, s, MaxRecordLimit); err != nil {
			return r.corrupt(err)
		}
		r.off += int64(len(frame))
	}
	return nil
}

func (r *Reader) closeFile() {
	if r.f != nil {
		r.f.Close()
		r.f, r.w, r.seg = nil, nil, nil
	}
}

// Close releases the reader's file handle.
func (r *Reader) Close() error {
	r.closeFile()
	return nil
}

package wal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/edgelog/edgelog/internal/vfs"
)

// reopenPoll is how often Reopen checks whether the committer has settled.
const reopenPoll = time.Millisecond

// Reopen recovers a failed log in place, as Close and Open would, without
// invalidating the *Log or its Readers. Once the commit goroutine has
// settled (every append made before the failure has had its callback), it
// cuts the active segment back to the end of the last committed record
// (what follows was reported failed to its appenders, so it is not kept
// aside as a torn tail is), fsyncs the segment, and accepts appends again
// after that record.
// Under FsyncAlways the cut is at Durable: a record whose fsync failed was
// reported failed and is not in the log afterwards, so its sequence is
// given to the next append. Under FsyncInterval and FsyncNever appends were
// acknowledged once written, so every record written whole is kept. A
// segment file left by a rotation that failed is removed.
//
// While the disk still fails Reopen returns the error and the log stays
// failed; call it again later. On a log that has not failed it does
// nothing. Reopen must not run concurrently with itself or with Close.
func (l *Log) Reopen(ctx context.Context) (Recovery, error) {
	var rec Recovery
	cause, err := l.settle(ctx)
	if cause == nil || err != nil {
		return rec, err
	}
	// The committer touches no file while failErr is set and nothing is
	// pending, and appends are refused: the active segment is ours until
	// failErr is cleared below. TruncateFront may still drop older
	// segments, never the last one.
	l.mu.Lock()
	last := l.segs[len(l.segs)-1]
	l.mu.Unlock()
	keep := l.writtenSeq.Load()
	if l.opts.Fsync == FsyncAlways {
		keep = l.syncedSeq.Load()
	}
	_ = l.active.Close() // may be closed already by a failed rotation

	if err := l.removeStray(last.first); err != nil {
		return rec, err
	}
	seg, f, err := l.cutAfter(last, keep, &rec)
	if err != nil {
		return rec, err
	}

	l.mu.Lock()
	segs := slices.Clone(l.segs)
	segs[len(segs)-1] = seg // a new *segment: readers drop windows over cut bytes
	var total int64
	for _, s := range segs {
		total += s.size
	}
	l.segs = segs
	l.active, l.activeSize = f, seg.size
	l.nextSeq = keep + 1
	l.firstSeq = min(l.firstSeq, keep+1)
	l.segGen.Add(1)
	l.writtenSeq.Store(keep)
	l.syncedSeq.Store(keep)
	close(l.syncedCh)
	l.syncedCh = make(chan struct{})
	l.failErr = nil
	l.mu.Unlock()
	l.stats.size.Store(total)
	l.stats.unsynced.Store(0)
	if rec.TruncatedBytes > 0 {
		l.stats.repairs.Add(1)
		l.stats.repairedBytes.Add(rec.TruncatedBytes)
	}
	rec.Reason = fmt.Sprintf("reopened after: %v", cause)
	l.opts.Logger.Info("wal: reopened after a failure", "dir", l.dir, "next_seq", keep+1, "cut_bytes", rec.TruncatedBytes, "failure", cause)
	select {
	case l.work <- struct{}{}:
	default:
	}
	return rec, nil
}

// settle waits until the log has failed and the committer holds no batch
// and none is pending. It returns the failure (nil if the log has not
// failed).
func (l *Log) settle(ctx context.Context) (error, error) {
	for {
		l.mu.Lock()
		closing, cause := l.closing, l.failErr
		idle := l.spare != nil && len(l.pending.buf) == 0
		l.mu.Unlock()
		switch {
		case closing:
			return nil, ErrClosed
		case cause == nil:
			return nil, nil
		case idle:
			return cause, nil
		}
		select {
		case l.work <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(reopenPoll):
		}
	}
}

// removeStray deletes segment files that start after the last segment the
// log knows: a rotation created them and failed before they held a record.
func (l *Log) removeStray(lastFirst uint64) error {
	segs, err := listSegments(l.opts.FS, l.dir)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	removed := false
	for _, s := range segs {
		if s.first > lastFirst {
			if err := l.opts.FS.Remove(s.path); err != nil && !isNotExist(err) {
				return fmt.Errorf("wal: remove %s: %w", s.path, err)
			}
			removed = true
		}
	}
	if removed {
		if err := l.opts.FS.SyncDir(l.dir); err != nil {
			return fmt.Errorf("wal: sync dir: %w", err)
		}
	}
	return nil
}

// cutAfter truncates last just past record keep (verifying every record up
// to it), fsyncs it and returns it as a new segment with its append handle.
func (l *Log) cutAfter(last *segment, keep uint64, rec *Recovery) (*segment, vfs.File, error) {
	f, err := l.opts.FS.OpenFile(last.path, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("wal: %w", err)
	}
	seg := &segment{first: last.first, path: last.path, size: info.Size()}
	end, err := endOf(f, seg, keep)
	if err != nil {
		return nil, nil, err
	}
	if seg.size > end {
		if err := f.Truncate(end); err != nil {
			return nil, nil, fmt.Errorf("wal: truncate %s: %w", seg.path, err)
		}
		rec.TruncatedBytes += seg.size - end
		seg.size = end
	}
	if err := f.Sync(); err != nil {
		return nil, nil, fmt.Errorf("wal: sync %s: %w", seg.path, err)
	}
	af, err := l.opts.FS.OpenFile(seg.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: %w", err)
	}
	return seg, af, nil
}

// endOf returns the offset just past record seq in seg, verifying the
// segment header and every frame up to it; seg.first-1 ends at the header.
func endOf(r io.ReaderAt, seg *segment, seq uint64) (int64, error) {
	w := newWindow(r)
	corrupt := func(off int64, err error) error {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = errShortFrame
		}
		return &CorruptError{Segment: filepath.Base(seg.path), Offset: off, Reason: err}
	}
	hdr, err := w.get(0, segmentHeaderSize)
	if err == nil {
		err = checkSegmentHeader(hdr, seg.first)
	}
	if err != nil {
		return 0, corrupt(0, err)
	}
	off := int64(segmentHeaderSize)
	for s := seg.first; s <= seq; s++ {
		b, err := w.get(off, frameHeaderSize)
		if err != nil {
			return 0, corrupt(off, err)
		}
		h := parseHeader(b)
		if int64(h.length) > int64(MaxRecordLimit) {
			return 0, corrupt(off, errBadLength)
		}
		frame, err := w.get(off, frameSize(int(h.length)))
		if err != nil {
			return 0, corrupt(off, err)
		}
		if _, _, _, err := DecodeFrame(frame, s, MaxRecordLimit); err != nil {
			return 0, corrupt(off, err)
		}
		off += int64(len(frame))
	}
	return off, nil
}

package wal

import (
	"fmt"
	"time"
)

// commitLoop is the only goroutine that writes or fsyncs segment files. It
// takes the whole pending batch at once (appenders keep filling a fresh one
// meanwhile), writes it with one write call, fsyncs per policy, and then
// runs the waiters' callbacks. Under FsyncAlways no callback runs before the
// fsync covering its record has returned.
func (l *Log) commitLoop() {
	defer close(l.done)
	var (
		timer    *time.Timer
		timerC   <-chan time.Time
		lastSync = time.Now()
		dirty    bool // written but not fsynced
	)
	for {
		select {
		case <-l.work:
		case <-timerC:
			timerC = nil
		}
		l.mu.Lock()
		b := l.pending
		l.pending, l.spare = l.spare, nil
		close(l.spaceCh)
		l.spaceCh = make(chan struct{})
		closing, wantSync, failed := l.closing, l.syncWant, l.failErr
		l.syncWant = false
		l.mu.Unlock()

		var err error
		if failed != nil {
			err = fmt.Errorf("%w: %v", ErrFailed, failed)
		} else if len(b.buf) > 0 {
			if err = l.write(b); err == nil {
				dirty = true
			}
		}
		if err == nil && dirty {
			due := false
			switch l.opts.Fsync {
			case FsyncAlways:
				due = true
			case FsyncInterval:
				due = wantSync || time.Since(lastSync) >= l.opts.FsyncInterval
			case FsyncNever:
				due = wantSync
			}
			if due || closing {
				if err = l.sync(); err == nil {
					dirty, lastSync = false, time.Now()
				}
			} else if l.opts.Fsync == FsyncInterval && timerC == nil {
				wait := l.opts.FsyncInterval - time.Since(lastSync)
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				timerC = timer.C
			}
		}
		if err != nil && failed == nil {
			l.fail(err)
		}
		for _, w := range b.waiters {
			w.done(w.seq, err)
		}
		b.reset()
		l.mu.Lock()
		l.spare = b
		more := len(l.pending.buf) > 0 || l.syncWant
		l.mu.Unlock()
		if closing && !more {
			if timer != nil {
				timer.Stop()
			}
			return
		}
		if more {
			select {
			case l.work <- struct{}{}:
			default:
			}
		}
	}
}

// write appends the batch to the active segment, starting a new segment
// first when the active one is full.
func (l *Log) write(b *batch) error {
	if l.activeSize+int64(len(b.buf)) > l.opts.SegmentSize && l.activeSize > segmentHeaderSize {
		if err := l.rotate(b.first); err != nil {
			return err
		}
	}
	n, err := l.active.Write(b.buf)
	l.activeSize += int64(n)
	l.stats.size.Add(int64(n))
	if err != nil {
		return fmt.Errorf("wal: write segment: %w", err)
	}
	l.writtenSeq.Store(b.last)
	l.stats.unsynced.Add(int64(n))
	return nil
}

// rotate fsyncs and closes the active segment and starts one at first.
// Fsyncing before the new file exists keeps every torn tail in the last
// segment, the only one recovery scans.
func (l *Log) rotate(first uint64) error {
	if err := l.sync(); err != nil {
		return err
	}
	if err := l.active.Close(); err != nil {
		return fmt.Errorf("wal: close segment: %w", err)
	}
	seg, f, err := createSegment(l.opts.FS, l.dir, first)
	if err != nil {
		return err
	}
	l.stats.size.Add(seg.size)
	l.mu.Lock()
	l.segs[len(l.segs)-1].size = l.activeSize
	l.segs = append(l.segs, seg)
	l.mu.Unlock()
	l.segGen.Add(1)
	l.active, l.activeSize = f, seg.size
	return nil
}

// sync fsyncs the active segment and publishes the new durable sequence.
func (l *Log) sync() error {
	start := time.Now()
	err := l.active.Sync()
	l.stats.observeFsync(time.Since(start))
	if err != nil {
		return fmt.Errorf("wal: fsync: %w", err)
	}
	l.stats.unsynced.Store(0)
	l.syncedSeq.Store(l.writtenSeq.Load())
	l.mu.Lock()
	close(l.syncedCh)
	l.syncedCh = make(chan struct{})
	l.mu.Unlock()
	return nil
}

// fail records the first write or fsync error; from then on every append
// is refused until the log is reopened (which repairs the tail).
func (l *Log) fail(err error) {
	l.mu.Lock()
	if l.failErr == nil {
		l.failErr = err
	}
	l.mu.Unlock()
	l.opts.Logger.Error("wal: write failed; refusing appends until reopened", "dir", l.dir, "err", err)
}

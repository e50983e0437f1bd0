package wal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/edgelog/edgelog/internal/vfs"
)

// Log is a segmented append-only log. It is safe for concurrent use.
//
// Ownership: the commit goroutine (commitLoop) alone writes and fsyncs
// segment files and owns the fields marked "committer". Everything marked
// "mu" is protected by Log.mu, held only for short, non-blocking steps.
type Log struct {
	opts  Options
	dir   string
	epoch string
	lock  *os.File
	rec   Recovery

	mu       sync.Mutex
	pending  *batch        // mu: records waiting for the next commit
	spare    *batch        // mu: the committer's recycled batch
	nextSeq  uint64        // mu: sequence of the next append
	firstSeq uint64        // mu: lowest readable sequence
	segs     []*segment    // mu: ordered; the last one is active
	closing  bool          // mu: no more appends
	failErr  error         // mu: first write/fsync error; appends refused
	syncWant bool          // mu: a reader waits for written-but-unsynced records
	spaceCh  chan struct{} // mu: closed when pending is taken (room to append)
	syncedCh chan struct{} // mu: closed when syncedSeq advances

	work chan struct{} // wakes the committer; capacity 1
	done chan struct{} // closed when the committer has exited

	active     vfs.File // committer: append handle of the last segment
	activeSize int64    // committer: bytes in the last segment

	writtenSeq atomic.Uint64 // last sequence written to a file
	syncedSeq  atomic.Uint64 // last sequence known durable
	segGen     atomic.Uint64 // bumped when segments are added or removed
	stats      counters

	// testHookWaitLock, if set (by tests, before use), runs in waitDurable
	// between its unlocked check of syncedSeq and taking mu.
	testHookWaitLock func()
}

// batch is a group of consecutive records committed with one write.
type batch struct {
	buf     []byte
	first   uint64 // sequence of the first record; 0 when empty
	last    uint64
	waiters []waiter
}

type waiter struct {
	seq  uint64
	done func(seq uint64, err error)
}

func (b *batch) reset() {
	b.buf = b.buf[:0]
	b.first, b.last = 0, 0
	clear(b.waiters)
	b.waiters = b.waiters[:0]
}

// Open opens the log in dir, creating it if needed, and repairs a torn tail.
func Open(dir string, opts Options) (*Log, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := opts.FS.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l, err := open(dir, opts)
	if err != nil {
		lock.Close()
		return nil, err
	}
	l.lock = lock
	go l.commitLoop()
	return l, nil
}

func open(dir string, opts Options) (*Log, error) {
	l := &Log{
		opts:     opts,
		dir:      dir,
		pending:  &batch{},
		spare:    &batch{},
		spaceCh:  make(chan struct{}),
		syncedCh: make(chan struct{}),
		work:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	segs, err := listSegments(opts.FS, dir)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	m, err := readMeta(opts.FS, dir)
	switch {
	case err == nil:
	case isNotExist(err):
		var b []byte
		m, b = newMeta()
		if err := writeFileAtomic(opts.FS, dir, metaFile, b); err != nil {
			return nil, fmt.Errorf("wal: write %s: %w", metaFile, err)
		}
		if len(segs) > 0 {
			l.rec.NewEpoch = true
			opts.Logger.Warn("wal: meta file missing; the log gets a new epoch", "dir", dir, "epoch", m.Epoch)
		}
	default:
		return nil, err
	}
	l.epoch = m.Epoch

	if len(segs) == 0 {
		seg, f, err := createSegment(opts.FS, dir, 1)
		if err != nil {
			return nil, err
		}
		l.segs, l.active, l.activeSize, l.nextSeq = []*segment{seg}, f, seg.size, 1
	} else {
		next, err := recoverTail(&l.opts, dir, segs, &l.rec)
		if err != nil {
			return nil, err
		}
		last := segs[len(segs)-1]
		f, err := opts.FS.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, fmt.Errorf("wal: %w", err)
		}
		l.segs, l.active, l.activeSize, l.nextSeq = segs, f, last.size, next
	}
	l.firstSeq = l.segs[0].first
	l.writtenSeq.Store(l.nextSeq - 1)
	l.syncedSeq.Store(l.nextSeq - 1)
	var total int64
	for _, s := range l.segs {
		total += s.size
	}
	l.stats.size.Store(total)
	if l.rec.Repaired() {
		l.stats.repairs.Add(1)
		l.stats.repairedBytes.Add(l.rec.TruncatedBytes)
	}
	return l, nil
}

// Epoch is the log's random identity, created with it. A new epoch means
// the log's sequences start over and must not be matched with old ones.
func (l *Log) Epoch() string { return l.epoch }

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// Recovery reports what Open repaired.
func (l *Log) Recovery() Recovery { return l.rec }

// First is the lowest sequence still readable.
func (l *Log) First() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstSeq
}

// Next is the sequence the next append will get.
func (l *Log) Next() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nextSeq
}

// Durable is the highest sequence known to be fsynced (0 if none).
func (l *Log) Durable() uint64 { return l.syncedSeq.Load() }

// Size is the log's size on disk in bytes, all segments included.
func (l *Log) Size() int64 { return l.stats.size.Load() }

// Append appends data and waits until the record is committed (durable
// under FsyncAlways). It returns the record's sequence.
func (l *Log) Append(ctx context.Context, data []byte) (uint64, error) {
	ch := make(chan error, 1)
	seq, err := l.AppendAsync(ctx, data, func(_ uint64, err error) { ch <- err })
	if err != nil {
		return 0, err
	}
	select {
	case err := <-ch:
		return seq, err
	case <-ctx.Done():
		return seq, ctx.Err()
	}
}

// AppendAsync queues data as the next record and returns its sequence.
// done, if not nil, is called exactly once from the commit goroutine when
// the record is committed (err nil: durable under FsyncAlways, written
// otherwise) or has failed. done must not block: hand the result to another
// goroutine if more work follows. AppendAsync blocks only while more than
// Options.MaxPendingBytes await commit; ctx bounds that wait. data is copied.
func (l *Log) AppendAsync(ctx context.Context, data []byte, done func(seq uint64, err error)) (uint64, error) {
	if len(data) > l.opts.MaxRecordSize {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), l.opts.MaxRecordSize)
	}
	l.mu.Lock()
	for {
		if l.closing {
			l.mu.Unlock()
			return 0, ErrClosed
		}
		if l.failErr != nil {
			err := l.failErr
			l.mu.Unlock()
			return 0, fmt.Errorf("%w: %v", ErrFailed, err)
		}
		if len(l.pending.buf) == 0 || len(l.pending.buf)+frameSize(len(data)) <= l.opts.MaxPendingBytes {
			break
		}
		room := l.spaceCh
		l.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		l.mu.Lock()
	}
	seq := l.nextSeq
	l.nextSeq++
	b := l.pending
	if b.first == 0 {
		b.first = seq
	}
	b.last = seq
	b.buf = appendFrame(b.buf, seq, data)
	if done != nil {
		b.waiters = append(b.waiters, waiter{seq: seq, done: done})
	}
	l.mu.Unlock()
	l.stats.appended.Add(1)
	l.stats.appendedBytes.Add(int64(len(data)))
	select {
	case l.work <- struct{}{}:
	default:
	}
	return seq, nil
}

// Sync makes every record appended so far durable.
func (l *Log) Sync(ctx context.Context) error {
	l.mu.Lock()
	target := l.nextSeq - 1
	l.mu.Unlock()
	return l.waitDurable(ctx, target)
}

// waitDurable blocks until seq is durable, asking the committer to fsync.
func (l *Log) waitDurable(ctx context.Context, seq uint64) error {
	for {
		if l.syncedSeq.Load() >= seq {
			return nil
		}
		if l.testHookWaitLock != nil {
			l.testHookWaitLock()
		}
		l.mu.Lock()
		if l.failErr != nil {
			err := l.failErr
			l.mu.Unlock()
			return fmt.Errorf("%w: %v", ErrFailed, err)
		}
		// Check again under mu: the committer stores syncedSeq before it
		// takes mu to close and replace syncedCh, so a sync that completed
		// since the check above is seen here, and otherwise the channel
		// taken here is the one it will close. Without this a waiter could
		// take the fresh channel of a sync it missed and wait forever.
		if l.syncedSeq.Load() >= seq {
			l.mu.Unlock()
			return nil
		}
		ch := l.syncedCh
		l.syncWant = true
		l.mu.Unlock()
		select {
		case l.work <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-l.done:
			if l.syncedSeq.Load() >= seq {
				return nil
			}
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// TruncateFront makes seq the lowest readable sequence and deletes every
// segment that holds only records below it. Records below seq that share a
// segment with seq stay on disk until that segment goes; after a reopen
// First is the first sequence of the oldest remaining segment. seq beyond
// the end is clamped to Next.
func (l *Log) TruncateFront(seq uint64) error {
	l.mu.Lock()
	if seq > l.nextSeq {
		seq = l.nextSeq
	}
	if seq > l.firstSeq {
		l.firstSeq = seq
	}
	// Every segment wholly below the first record goes, also one that an
	// earlier call could not delete because its successor did not exist
	// yet (the log was truncated to its end, then the next append started
	// a segment at exactly firstSeq).
	var gone []*segment
	for len(l.segs) > 1 && l.segs[1].first <= l.firstSeq {
		gone = append(gone, l.segs[0])
		l.segs = l.segs[1:]
	}
	l.mu.Unlock()
	if len(gone) == 0 {
		return nil
	}
	l.segGen.Add(1)
	for _, s := range gone {
		if err := l.opts.FS.Remove(s.path); err != nil && !isNotExist(err) {
			return fmt.Errorf("wal: remove %s: %w", s.path, err)
		}
		l.stats.size.Add(-s.size)
	}
	if err := l.opts.FS.SyncDir(l.dir); err != nil {
		return fmt.Errorf("wal: sync dir: %w", err)
	}
	return nil
}

// segmentFor returns the segment holding seq and the first sequence of the
// segment after it (0 if it is the active one).
func (l *Log) segmentFor(seq uint64) (*segment, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq < l.firstSeq {
		return nil, 0, fmt.Errorf("%w: %d < first %d", ErrCompacted, seq, l.firstSeq)
	}
	if seq > l.nextSeq {
		return nil, 0, fmt.Errorf("%w: %d > next %d", ErrOutOfRange, seq, l.nextSeq)
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > seq }) - 1
	if i < 0 {
		return nil, 0, fmt.Errorf("%w: %d", ErrCompacted, seq)
	}
	var end uint64
	if i+1 < len(l.segs) {
		end = l.segs[i+1].first
	}
	return l.segs[i], end, nil
}

// Close stops appends, commits and fsyncs what is pending, and closes the
// files. Appends waiting for commit are completed first.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		<-l.done
		return nil
	}
	l.closing = true
	close(l.spaceCh)
	l.spaceCh = make(chan struct{})
	l.mu.Unlock()
	select {
	case l.work <- struct{}{}:
	default:
	}
	<-l.done
	err := l.active.Close()
	if l.lock != nil {
		l.lock.Close()
	}
	l.mu.Lock()
	failErr := l.failErr
	l.mu.Unlock()
	if failErr != nil {
		return fmt.Errorf("%w: %v", ErrFailed, failErr)
	}
	return err
}

// segmentPaths lists the current segment files (for tests and tools).
func (l *Log) segmentPaths() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.segs))
	for i, s := range l.segs {
		out[i] = filepath.Base(s.path)
	}
	return out
}

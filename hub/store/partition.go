package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/edgelog/edgelog/internal/vfs"
)

// SyncPolicy says when partition writes reach stable storage.
type SyncPolicy int

const (
	// SyncAlways fsyncs before a write is acknowledged (group commit:
	// concurrent writers share one fsync). The high watermark, and so what
	// consumers can read, only covers fsynced batches.
	SyncAlways SyncPolicy = iota
	// SyncInterval acknowledges after the write syscall; the owner calls
	// Sync periodically.
	SyncInterval
	// SyncNever leaves flushing to the operating system.
	SyncNever
)

// MarkFunc extracts producer marks (producer key, sequence) from a stored
// batch while a partition is opened. Marks written through WriteProducer are
// rebuilt this way, so they are exactly as durable as the batches carrying
// them (plus the snapshot Retain keeps of deleted segments).
type MarkFunc func(batch []byte, info BatchInfo, mark func(producer string, seq int64))

// CheckFunc decides, under the partition lock, whether a producer's write
// may go ahead: it gets the producer's current mark (known is false when the
// partition has never seen it) and returns the mark to store after the
// write, or an error that cancels the write and is returned as is.
type CheckFunc func(cur int64, known bool) (next int64, err error)

// PartitionConfig tunes one partition. The zero value means the defaults.
type PartitionConfig struct {
	SegmentBytes int64         // roll a segment past this size (default 128 MiB)
	SegmentAge   time.Duration // roll a segment older than this (default 1h)
	MaxBatch     int           // largest accepted batch (default 16 MiB)
	Sync         SyncPolicy
	Marks        MarkFunc // recovers producer marks on open; nil: none
	FS           vfs.FS   // nil: the real filesystem
	Logger       *slog.Logger
}

func (c *PartitionConfig) validate() {
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = 128 << 20
	}
	if c.SegmentAge <= 0 {
		c.SegmentAge = time.Hour
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 16 << 20
	}
	if c.FS == nil {
		c.FS = vfs.OS{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Partition is one append-only log of Kafka v2 record batches, split into
// segment files. Safe for concurrent use.
type Partition struct {
	dir string
	cfg PartitionConfig
	fs  vfs.FS

	// syncSem has capacity 1; its holder runs the fsync. Waiters whose
	// data was covered by someone else's fsync return without syncing.
	syncSem chan struct{}

	mu        sync.RWMutex // protects everything below
	segs      []*segment   // oldest first; the last is active (written)
	next      int64        // log end offset: next offset to assign
	hw        int64        // high watermark: offsets below are readable
	synced    int64        // offsets below are fsynced
	start     int64        // log start offset
	waitCh    chan struct{}
	producers map[string]int64 // max mark per producer: snapshot and all segments
	snapshot  map[string]int64 // marks of deleted segments, as in the snapshot file
	failed    error            // sticky: set when an fsync failed or a write could not be undone
	closed    bool
	truncated int64 // torn tail bytes dropped at open
}

// OpenPartition opens (creating if needed) the partition log in dir,
// checking every batch and truncating a torn tail of the newest segment.
// Damage anywhere else is an error wrapping ErrCorrupt.
func OpenPartition(dir string, cfg PartitionConfig) (*Partition, error) {
	cfg.validate()
	fsys := cfg.FS
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	p := &Partition{dir: dir, cfg: cfg, fs: fsys, syncSem: make(chan struct{}, 1), waitCh: make(chan struct{}), producers: map[string]int64{}}
	snap, err := readSnapshot(fsys, dir)
	if err != nil {
		return nil, err
	}
	p.snapshot = snap
	for k, v := range snap {
		p.producers[k] = v
	}
	bases, err := listSegments(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	onBatch := func(s *segment, b []byte, info BatchInfo) {
		if cfg.Marks != nil {
			cfg.Marks(b, info, func(producer string, seq int64) { p.noteMark(s, producer, seq) })
		}
	}
	for i, base := range bases {
		tail := i == len(bases)-1
		s, res, err := openSegment(fsys, dir, base, cfg.MaxBatch, tail, onBatch)
		if err != nil {
			p.closeSegs()
			return nil, err
		}
		if len(p.segs) > 0 && p.segs[len(p.segs)-1].nextOffset() != base {
			s.close()
			p.closeSegs()
			return nil, fmt.Errorf("%w: %s: segment %d does not follow offset %d", ErrCorrupt, dir, base, p.segs[len(p.segs)-1].nextOffset())
		}
		if res.truncatedBytes > 0 {
			p.truncated = res.truncatedBytes
			cfg.Logger.Warn("store: truncated torn tail", "dir", dir, "segment", base, "bytes", res.truncatedBytes)
		}
		p.segs = append(p.segs, s)
	}
	if len(p.segs) == 0 {
		s, err := createSegment(fsys, dir, 0)
		if err != nil {
			return nil, err
		}
		p.segs = []*segment{s}
	}
	p.start = p.segs[0].base
	p.next = p.segs[len(p.segs)-1].nextOffset()
	p.hw = p.next
	p.synced = p.next
	return p, nil
}

// noteMark raises producer's mark in s and in the partition; mu held (or p
// not yet shared).
func (p *Partition) noteMark(s *segment, producer string, seq int64) {
	s.noteMark(producer, seq)
	if cur, ok := p.producers[producer]; !ok || seq > cur {
		p.producers[producer] = seq
	}
}

func (p *Partition) closeSegs() {
	for _, s := range p.segs {
		s.close()
	}
}

// Dir is the partition's directory.
func (p *Partition) Dir() string { return p.dir }

// TruncatedBytes reports how many torn-tail bytes open removed.
func (p *Partition) TruncatedBytes() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.truncated
}

// ProducerSeq returns producer's mark: the highest sequence written for it
// (written, not necessarily durable yet: pair with WaitDurable).
func (p *Partition) ProducerSeq(producer string) (int64, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	s, ok := p.producers[producer]
	return s, ok
}

// Offsets returns the log start offset, the high watermark and the log end
// offset.
func (p *Partition) Offsets() (start, hw, end int64) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.start, p.hw, p.next
}

// Size is the bytes on disk of all segments.
func (p *Partition) Size() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var n int64
	for _, s := range p.segs {
		n += s.size
	}
	return n
}

// Segments is the number of segment files.
func (p *Partition) Segments() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.segs)
}

// Wait returns a channel closed when the high watermark next advances (or
// the partition closes).
func (p *Partition) Wait() <-chan struct{} {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.waitCh
}

// Append writes batches (one or more concatenated v2 record batches, as
// validated by SplitBatches) and, under SyncAlways, waits until they are
// durable. It returns the offset of the first record.
func (p *Partition) Append(ctx context.Context, batches []byte, infos []BatchInfo) (int64, error) {
	base, end, err := p.Write(batches, infos)
	if err != nil {
		return 0, err
	}
	return base, p.WaitDurable(ctx, end)
}

// Write appends batches without waiting for durability; pair with
// WaitDurable(end). The base offsets (and leader epochs) inside batches are
// rewritten in place; infos are updated to the assigned offsets.
func (p *Partition) Write(batches []byte, infos []BatchInfo) (base, end int64, err error) {
	return p.write(batches, infos, "", nil)
}

// WriteProducer is Write for a tracked producer: check runs under the
// partition lock with the producer's current mark, so the check and the
// write are atomic, and the mark it returns is stored with the write.
func (p *Partition) WriteProducer(batches []byte, infos []BatchInfo, producer string, check CheckFunc) (base, end int64, err error) {
	if producer == "" || check == nil {
		return 0, 0, fmt.Errorf("store: WriteProducer needs a producer and a check")
	}
	return p.write(batches, infos, producer, check)
}

func (p *Partition) write(batches []byte, infos []BatchInfo, producer string, check CheckFunc) (base, end int64, err error) {
	if len(infos) == 0 {
		return 0, 0, fmt.Errorf("%w: empty write", ErrBadBatch)
	}
	total := 0
	for _, info := range infos {
		total += info.Size
	}
	if total != len(batches) {
		return 0, 0, fmt.Errorf("%w: batch sizes do not add up", ErrBadBatch)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, 0, ErrClosed
	}
	if p.failed != nil {
		return 0, 0, p.failed
	}
	var mark int64
	if producer != "" {
		cur, known := p.producers[producer]
		if mark, err = check(cur, known); err != nil {
			return 0, 0, err
		}
	}
	s := p.segs[len(p.segs)-1]
	if s.size > 0 && (s.size+int64(len(batches)) > p.cfg.SegmentBytes || time.Since(s.created) > p.cfg.SegmentAge) {
		if s, err = p.roll(); err != nil {
			return 0, 0, err
		}
	}
	base = p.next
	next := p.next
	pos := s.size
	maxTS := s.maxTimestamp()
	entries := make([]indexEntry, 0, len(infos))
	off := 0
	for i := range infos {
		info := &infos[i]
		b := batches[off : off+info.Size]
		SetBaseOffset(b, next)
		setLeaderEpoch(b, 0)
		info.BaseOffset = next
		info.LastOffset = next + int64(info.LastOffsetDelta)
		if info.MaxTimestamp > maxTS {
			maxTS = info.MaxTimestamp
		}
		entries = append(entries, indexEntry{base: next, last: info.LastOffset, pos: pos, size: int32(info.Size), maxTSSoFar: maxTS})
		pos += int64(info.Size)
		off += info.Size
		next = info.LastOffset + 1
	}
	if _, err := s.f.Write(batches); err != nil {
		// Cut off whatever part landed so the log stays well formed.
		if terr := s.f.Truncate(s.size); terr != nil {
			p.failed = fmt.Errorf("store: write failed and could not be undone: %w", terr)
		}
		return 0, 0, fmt.Errorf("store: write %s: %w", s.path, err)
	}
	if s.size == 0 {
		s.created = time.Now()
	}
	s.size = pos
	s.index = append(s.index, entries...)
	p.next = next
	if producer != "" {
		p.noteMark(s, producer, mark)
	}
	if p.cfg.Sync != SyncAlways {
		p.advance(next)
	}
	return base, next, nil
}

// advance moves the high watermark to hw and wakes waiters; mu must be held.
func (p *Partition) advance(hw int64) {
	if hw > p.hw {
		p.hw = hw
		close(p.waitCh)
		p.waitCh = make(chan struct{})
	}
}

// roll seals the active segment (fsyncing it) and starts a new one; mu held.
func (p *Partition) roll() (*segment, error) {
	old := p.segs[len(p.segs)-1]
	if err := old.f.Sync(); err != nil {
		p.failed = fmt.Errorf("store: fsync on roll: %w", err)
		return nil, p.failed
	}
	s, err := createSegment(p.fs, p.dir, p.next)
	if err != nil {
		return nil, err
	}
	p.segs = append(p.segs, s)
	return s, nil
}

// Close fsyncs and closes the partition.
func (p *Partition) Close() error {
	p.syncSem <- struct{}{} // no fsync in flight after this
	defer func() { <-p.syncSem }()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var first error
	for i, s := range p.segs {
		if i == len(p.segs)-1 && p.failed == nil {
			if err := s.f.Sync(); err != nil && first == nil {
				first = fmt.Errorf("store: fsync on close: %w", err)
			}
		}
		if err := s.close(); err != nil && first == nil {
			first = err
		}
	}
	close(p.waitCh)
	p.waitCh = make(chan struct{})
	return first
}

// Remove closes the partition and deletes its directory.
func (p *Partition) Remove() error {
	p.Close()
	return os.RemoveAll(p.dir)
}

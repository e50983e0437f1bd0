package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/edgelog/edgelog/internal/vfs"
)

// snapshotName holds the producer marks of deleted segments: without it a
// restart after retention would forget producers whose last batches were in
// them.
const snapshotName = "producers.snapshot"

// Retain deletes whole segments, oldest first: a segment goes when its newest
// record is older than maxAge (maxAge > 0), or while the segments after it
// still hold at least maxBytes (maxBytes > 0, Kafka's retention.bytes rule).
// Age may also take the active segment once it is non-empty and fully
// durable (a fresh empty segment replaces it, so an idle topic empties);
// size never does. The log start offset moves to the first kept offset.
// Marks of deleted segments are saved first (snapshot file). It returns the
// number of segments deleted.
func (p *Partition) Retain(now time.Time, maxAge time.Duration, maxBytes int64) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, ErrClosed
	}
	if p.failed != nil {
		return 0, p.failed
	}
	var total int64
	for _, s := range p.segs {
		total += s.size
	}
	cutoff := now.Add(-maxAge).UnixMilli()
	k := 0
	for i, s := range p.segs {
		active := i == len(p.segs)-1
		expired := maxAge > 0 && s.maxTimestamp() < cutoff
		oversize := maxBytes > 0 && total-s.size >= maxBytes
		if active && (!expired || s.size == 0) {
			break
		}
		if active && p.synced < p.next {
			// Its marks go into the snapshot: make them durable first.
			if err := s.f.Sync(); err != nil {
				p.failed = fmt.Errorf("store: fsync %s: %w", s.path, err)
				return 0, p.failed
			}
			p.synced = p.next
			p.advance(p.next)
		}
		if !expired && !oversize {
			break
		}
		total -= s.size
		k++
	}
	if k == 0 {
		return 0, nil
	}
	if err := p.saveMarks(p.segs[:k]); err != nil {
		return 0, err
	}
	if k == len(p.segs) {
		s, err := createSegment(p.fs, p.dir, p.next)
		if err != nil {
			return 0, err
		}
		p.segs = append(p.segs, s)
	}
	gone := p.segs[:k]
	p.segs = append([]*segment(nil), p.segs[k:]...)
	p.start = p.segs[0].base
	var first error
	for _, s := range gone {
		s.close()
		if err := p.fs.Remove(s.path); err != nil && first == nil {
			first = fmt.Errorf("store: retention: %w", err)
		}
	}
	if err := p.fs.SyncDir(p.dir); err != nil && first == nil {
		first = fmt.Errorf("store: retention: sync dir: %w", err)
	}
	return k, first
}

// saveMarks merges the marks of segments about to be deleted into the
// snapshot and writes it durably; mu held. Those segments are durable
// (sealed segments were fsynced on roll; an active one only goes when fully
// synced), so the snapshot never claims a mark the log could lose.
func (p *Partition) saveMarks(gone []*segment) error {
	merged := make(map[string]int64, len(p.snapshot))
	for k, v := range p.snapshot {
		merged[k] = v
	}
	changed := false
	for _, s := range gone {
		for k, v := range s.marks {
			if cur, ok := merged[k]; !ok || v > cur {
				merged[k] = v
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	entries := make([]KVEntry, 0, len(keys))
	for _, k := range keys {
		entries = append(entries, KVEntry{Key: k, Value: binary.BigEndian.AppendUint64(nil, uint64(merged[k]))})
	}
	data, err := encodeKVEntries(entries)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(p.fs, filepath.Join(p.dir, snapshotName), data); err != nil {
		return err
	}
	p.snapshot = merged
	return nil
}

// readSnapshot loads the marks snapshot of a partition directory.
func readSnapshot(fsys vfs.FS, dir string) (map[string]int64, error) {
	out := map[string]int64{}
	raw, err := readFile(fsys, filepath.Join(dir, snapshotName))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	var bad error
	n, err := DecodeKVLog(raw, func(e KVEntry) {
		if len(e.Value) != 8 {
			bad = fmt.Errorf("%w: %s: mark of %d bytes", ErrCorrupt, snapshotName, len(e.Value))
			return
		}
		out[e.Key] = int64(binary.BigEndian.Uint64(e.Value))
	})
	if err == nil && n != len(raw) {
		// Written atomically: a short snapshot is damage, not a torn tail.
		err = fmt.Errorf("%w: %s: %d of %d bytes valid", ErrCorrupt, filepath.Join(dir, snapshotName), n, len(raw))
	}
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func readFile(fsys vfs.FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, st.Size())
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("store: read %s: %w", path, err)
	}
	return buf, nil
}

// writeFileAtomic replaces path with data: temporary file, fsync, rename,
// directory fsync.
func writeFileAtomic(fsys vfs.FS, path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("store: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("store: fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", tmp, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("store: sync dir: %w", err)
	}
	return nil
}

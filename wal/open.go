package wal

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/edgelog/edgelog/internal/vfs"
)

const (
	metaFile   = "wal.meta"
	lockFile   = "LOCK"
	damagedDir = "damaged"
	// metaFormat versions the directory layout (meta + segments).
	metaFormat = 1
	// maxMetaBytes bounds the meta file decoder.
	maxMetaBytes = 4 << 10
)

// meta is the log's identity, written once when the log is created.
type meta struct {
	Format  int       `json:"format"`
	Epoch   string    `json:"epoch"`
	Created time.Time `json:"created"`
}

// Recovery reports what Open repaired.
type Recovery struct {
	// TruncatedBytes is how many damaged tail bytes were cut off.
	TruncatedBytes int64
	// DamagedFiles are copies of the bytes cut off, under DIR/damaged.
	DamagedFiles []string
	// Reason describes the damage at the tail, if any.
	Reason string
	// NewEpoch is true when the log had segments but no meta file and was
	// given a fresh epoch.
	NewEpoch bool
}

// Repaired reports whether Open changed anything on disk.
func (r Recovery) Repaired() bool { return r.TruncatedBytes > 0 || r.NewEpoch }

// lockDir takes an exclusive advisory lock on dir so two processes never
// append to one log.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("wal: lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("wal: lock %s: %w", dir, err)
	}
	return f, nil
}

func readMeta(fsys vfs.FS, dir string) (meta, error) {
	var m meta
	f, err := fsys.OpenFile(filepath.Join(dir, metaFile), os.O_RDONLY, 0)
	if err != nil {
		return m, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(io.NewSectionReader(f, 0, maxMetaBytes+1), maxMetaBytes+1))
	if err != nil {
		return m, err
	}
	if len(b) > maxMetaBytes {
		return m, fmt.Errorf("wal: %s larger than %d bytes", metaFile, maxMetaBytes)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("wal: %s: %w", metaFile, err)
	}
	if m.Format != metaFormat || len(m.Epoch) != 32 {
		return m, fmt.Errorf("wal: %s: unsupported format %d or bad epoch", metaFile, m.Format)
	}
	return m, nil
}

// writeFileAtomic writes data to dir/name durably: temp file, fsync,
// rename, fsync of the directory.
func writeFileAtomic(fsys vfs.FS, dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}

func newMeta() (meta, []byte) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	m := meta{Format: metaFormat, Epoch: hex.EncodeToString(id[:]), Created: time.Now().UTC()}
	b, _ := json.Marshal(m)
	return m, b
}

// createSegment creates the segment file for first with its header, fsyncs
// it and the directory, and returns it open for appending.
func createSegment(fsys vfs.FS, dir string, first uint64) (*segment, vfs.File, error) {
	seg := &segment{first: first, path: filepath.Join(dir, segmentName(first))}
	f, err := fsys.OpenFile(seg.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: create segment: %w", err)
	}
	if _, err := f.Write(encodeSegmentHeader(first)); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: write segment header %s: %w", seg.path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: sync segment %s: %w", seg.path, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("wal: sync dir %s: %w", dir, err)
	}
	seg.size = segmentHeaderSize
	return seg, f, nil
}

func fileSize(fsys vfs.FS, path string) (int64, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

// recoverTail checks every segment header and scans the last segment,
// truncating a torn tail (after copying it aside). It returns the sequence
// after the last good record.
func recoverTail(o *Options, dir string, segs []*segment, rec *Recovery) (uint64, error) {
	for i, seg := range segs {
		size, err := fileSize(o.FS, seg.path)
		if err != nil {
			return 0, fmt.Errorf("wal: %w", err)
		}
		seg.size = size
		if i > 0 && seg.first <= segs[i-1].first {
			return 0, &CorruptError{Segment: filepath.Base(seg.path), Reason: errors.New("segments overlap")}
		}
		last := i == len(segs)-1
		if err := checkHeaderOnDisk(o, dir, seg, last, rec); err != nil {
			return 0, err
		}
	}
	last := segs[len(segs)-1]
	f, err := o.FS.OpenFile(last.path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("wal: %w", err)
	}
	defer f.Close()
	res, err := scanSegment(f, last.size, last.first, MaxRecordLimit, nil)
	if err != nil {
		return 0, fmt.Errorf("wal: scan %s: %w", last.path, err)
	}
	if res.damage == nil {
		// A process killed after a write and before its fsync leaves
		// records the kernel may not have written yet: make them durable
		// before Durable reports them so.
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("wal: sync %s: %w", last.path, err)
		}
		return res.next, nil
	}
	name := filepath.Base(last.path)
	if !res.torn && !o.RepairAnyDamage {
		return 0, &CorruptError{Segment: name, Offset: res.goodEnd, Reason: res.damage}
	}
	if err := cutTail(o, dir, f, last, res.goodEnd, rec); err != nil {
		return 0, err
	}
	rec.Reason = fmt.Sprintf("%s at segment %s offset %d", res.damage, name, res.goodEnd)
	return res.next, nil
}

// checkHeaderOnDisk verifies a segment's header. A last segment whose
// header never made it to disk whole (short or all zeros) is rewritten; any
// other bad header is corruption.
func checkHeaderOnDisk(o *Options, dir string, seg *segment, last bool, rec *Recovery) error {
	f, err := o.FS.OpenFile(seg.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	defer f.Close()
	hdr := make([]byte, segmentHeaderSize)
	n, err := f.ReadAt(hdr, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("wal: read %s: %w", seg.path, err)
	}
	herr := checkSegmentHeader(hdr[:n], seg.first)
	if herr == nil {
		return nil
	}
	torn := n < segmentHeaderSize || isZero(hdr)
	if !last || !torn || (seg.size > segmentHeaderSize && !o.RepairAnyDamage) {
		return &CorruptError{Segment: filepath.Base(seg.path), Offset: 0, Reason: herr}
	}
	if err := cutTail(o, dir, f, seg, 0, rec); err != nil {
		return err
	}
	if _, err := f.Write(encodeSegmentHeader(seg.first)); err != nil {
		return fmt.Errorf("wal: rewrite header %s: %w", seg.path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wal: sync %s: %w", seg.path, err)
	}
	seg.size = segmentHeaderSize
	rec.Reason = fmt.Sprintf("torn segment header in %s", filepath.Base(seg.path))
	return nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// cutTail copies seg's bytes from off to its end into DIR/damaged, then
// truncates the segment at off and fsyncs it.
func cutTail(o *Options, dir string, f vfs.File, seg *segment, off int64, rec *Recovery) error {
	lost := seg.size - off
	if lost <= 0 {
		return nil
	}
	damaged := filepath.Join(dir, damagedDir)
	if err := o.FS.MkdirAll(damaged, 0o700); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	name := fmt.Sprintf("%s.%d.%d", filepath.Base(seg.path), off, time.Now().UnixNano())
	buf := make([]byte, lost)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("wal: read damaged tail: %w", err)
	}
	if err := writeFileAtomic(o.FS, damaged, name, buf); err != nil {
		return fmt.Errorf("wal: save damaged tail: %w", err)
	}
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("wal: truncate %s: %w", seg.path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wal: sync %s: %w", seg.path, err)
	}
	seg.size = off
	rec.TruncatedBytes += lost
	rec.DamagedFiles = append(rec.DamagedFiles, filepath.Join(damaged, name))
	o.Logger.Warn("wal: repaired damaged tail", "segment", filepath.Base(seg.path), "offset", off, "bytes", lost, "saved", name)
	return nil
}

// errNoMeta distinguishes a missing meta file from a bad one.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/edgelog/edgelog/internal/vfs"
)

// KV limits: a frame (one Put) and a key are bounded before allocation.
const (
	maxKVFrame = 4 << 20
	maxKVKey   = 4 << 10
	// compactAt: rewrite the file once it is past this size and four
	// times its live size.
	compactAt = 1 << 20
)

// KVEntry is one key and its new value; a nil Value deletes the key.
type KVEntry struct {
	Key   string
	Value []byte
}

// KV is a small durable map (consumer-group offsets, topic configs, ingest
// watermarks). Each Put appends one CRC-framed frame holding all its
// entries, so a Put is atomic, and returns once the frame is fsynced;
// concurrent Puts share fsyncs (group commit). Reads see a Put's values as
// soon as it is written, before it returns. The file is rewritten
// (compacted) when it grows well past its live size. A torn tail is
// truncated on open; damage before the tail wraps ErrCorrupt.
type KV struct {
	path string
	fs   vfs.FS

	// syncSem has capacity 1: its holder runs the fsync (and compaction).
	syncSem chan struct{}

	mu     sync.Mutex // protects everything below
	f      vfs.File   // opened O_APPEND
	gen    int        // bumped when compaction replaces f: everything before is durable
	data   map[string][]byte
	size   int64 // bytes in f
	synced int64 // bytes of f known durable
	live   int64 // bytes the live entries would take
	failed error // sticky after a failed write undo or fsync
}

// OpenKV opens or creates the map stored at path on fsys (nil: the real
// filesystem).
func OpenKV(fsys vfs.FS, path string) (*KV, error) {
	if fsys == nil {
		fsys = vfs.OS{}
	}
	if err := fsys.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	raw, err := readFile(fsys, path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: read kv: %w", err)
	}
	k := &KV{path: path, fs: fsys, syncSem: make(chan struct{}, 1), data: map[string][]byte{}}
	good, err := DecodeKVLog(raw, k.apply)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: open kv: %w", err)
	}
	if good < len(raw) {
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, fmt.Errorf("store: truncate kv: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: sync kv: %w", err)
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: sync dir: %w", err)
	}
	k.f = f
	k.size, k.synced = int64(good), int64(good)
	return k, nil
}

func (k *KV) apply(e KVEntry) {
	if old, ok := k.data[e.Key]; ok {
		k.live -= int64(len(e.Key) + len(old) + 8)
	}
	if e.Value == nil {
		delete(k.data, e.Key)
		return
	}
	k.data[e.Key] = e.Value
	k.live += int64(len(e.Key) + len(e.Value) + 8)
}

// Get returns the value for key; callers must not modify it.
func (k *KV) Get(key string) ([]byte, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.data[key]
	return v, ok
}

// Range calls fn for each key with prefix, in key order, until fn returns
// false. fn runs without the lock held.
func (k *KV) Range(prefix string, fn func(key string, val []byte) bool) {
	k.mu.Lock()
	var ents []KVEntry
	for key, v := range k.data {
		if strings.HasPrefix(key, prefix) {
			ents = append(ents, KVEntry{Key: key, Value: v})
		}
	}
	k.mu.Unlock()
	sort.Slice(ents, func(i, j int) bool { return ents[i].Key < ents[j].Key })
	for _, e := range ents {
		if !fn(e.Key, e.Value) {
			return
		}
	}
}

// Put durably applies entries as one atomic frame.
func (k *KV) Put(ctx context.Context, entries ...KVEntry) error {
	if len(entries) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	frame, err := encodeKVFrame(nil, entries)
	if err != nil {
		return err
	}
	k.mu.Lock()
	if k.f == nil {
		k.mu.Unlock()
		return ErrClosed
	}
	if k.failed != nil {
		k.mu.Unlock()
		return k.failed
	}
	if _, err := k.f.Write(frame); err != nil {
		if terr := k.f.Truncate(k.size); terr != nil {
			k.failed = fmt.Errorf("store: kv write failed and could not be undone: %w", terr)
		}
		k.mu.Unlock()
		return fmt.Errorf("store: kv write: %w", err)
	}
	k.size += int64(len(frame))
	for _, e := range entries {
		k.apply(e)
	}
	gen, end := k.gen, k.size
	k.mu.Unlock()
	return k.waitDurable(ctx, gen, end)
}

// waitDurable returns once bytes below end of generation gen are durable.
func (k *KV) waitDurable(ctx context.Context, gen int, end int64) error {
	for {
		k.mu.Lock()
		done, failed, closed := k.gen != gen || k.synced >= end, k.failed, k.f == nil
		k.mu.Unlock()
		switch {
		case done:
			return nil
		case failed != nil:
			return failed
		case closed:
			return ErrClosed
		}
		select {
		case k.syncSem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		err := k.syncOnce()
		<-k.syncSem
		if err != nil {
			return err
		}
	}
}

// syncOnce fsyncs what is written and compacts if due; syncSem held.
func (k *KV) syncOnce() error {
	k.mu.Lock()
	f, target, synced := k.f, k.size, k.synced
	k.mu.Unlock()
	if f == nil {
		return ErrClosed
	}
	if synced >= target {
		return nil // a previous holder's fsync covered it
	}
	err := f.Sync()
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.failed = fmt.Errorf("store: kv fsync: %w", err)
		return k.failed
	}
	if k.f == f && target > k.synced {
		k.synced = target
	}
	if k.f != nil && k.size == k.synced && k.size > compactAt && k.size > 4*k.live {
		return k.compactLocked()
	}
	return nil
}

// compactLocked rewrites the file with only the live entries; mu and
// syncSem held, and everything written is durable. A failure before the
// rename leaves the old file in use; after it, the KV is failed.
func (k *KV) compactLocked() error {
	keys := make([]string, 0, len(k.data))
	for key := range k.data {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	entries := make([]KVEntry, 0, len(keys))
	for _, key := range keys {
		entries = append(entries, KVEntry{Key: key, Value: k.data[key]})
	}
	buf, err := encodeKVEntries(entries)
	if err != nil {
		return nil // keep the old file: still correct, only larger
	}
	tmp := k.path + ".tmp"
	tf, err := k.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil
	}
	if _, err := tf.Write(buf); err != nil {
		tf.Close()
		return nil
	}
	if err := tf.Sync(); err != nil {
		tf.Close()
		return nil
	}
	if err := k.fs.Rename(tmp, k.path); err != nil {
		tf.Close()
		return nil
	}
	k.f.Close()
	k.f = tf
	k.gen++
	k.size, k.synced = int64(len(buf)), int64(len(buf))
	if err := k.fs.SyncDir(filepath.Dir(k.path)); err != nil {
		k.failed = fmt.Errorf("store: kv compaction: sync dir: %w", err)
		return k.failed
	}
	return nil
}

// Close fsyncs and closes the file.
func (k *KV) Close() error {
	k.syncSem <- struct{}{}
	defer func() { <-k.syncSem }()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.f == nil {
		return nil
	}
	err := k.f.Sync()
	if cerr := k.f.Close(); err == nil {
		err = cerr
	}
	k.f = nil
	return err
}

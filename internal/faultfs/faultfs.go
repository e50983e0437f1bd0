package faultfs

import (
	"errors"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/edgelog/edgelog/internal/vfs"
)

// ErrInjected is returned by injected fsync failures.
var ErrInjected = errors.New("faultfs: injected I/O error")

// FS wraps vfs.OS with fault injection.
type FS struct {
	// gate is held shared by every operation that changes files or
	// directories (but fsync) for its whole duration; Halt takes it
	// exclusively and never gives it back.
	gate sync.RWMutex

	mu sync.Mutex // protects everything below
	// writeBudget is how many more bytes writes may store before ENOSPC;
	// negative means unlimited.
	writeBudget int64
	syncDelay   time.Duration
	syncErr     error
	syncHook    func(name string)
	files       map[string]*state // by path
	halted      bool              // set by Halt: no fsync completes after it
}

// state tracks what of a file is durable.
type state struct {
	synced  int64 // length at the last fsync
	written int64 // current length
}

// New returns an FS with no faults armed.
func New() *FS { return &FS{writeBudget: -1, files: map[string]*state{}} }

// SetWriteBudget makes writes fail with ENOSPC after n more bytes (n < 0:
// unlimited).
func (f *FS) SetWriteBudget(n int64) {
	f.mu.Lock()
	f.writeBudget = n
	f.mu.Unlock()
}

// SetSyncFault makes every fsync wait delay and then return err (nil: succeed).
func (f *FS) SetSyncFault(delay time.Duration, err error) {
	f.mu.Lock()
	f.syncDelay, f.syncErr = delay, err
	f.mu.Unlock()
}

// SetSyncHook calls hook(name) at the start of every file fsync, before any
// injected delay; tests use it to observe ordering.
func (f *FS) SetSyncHook(hook func(name string)) {
	f.mu.Lock()
	f.syncHook = hook
	f.mu.Unlock()
}

// CrashMode says what a simulated power cut leaves after the durable prefix.
type CrashMode int

// Crash modes.
const (
	DropUnsynced CrashMode = iota // file ends at its last fsynced length
	TearUnsynced                  // half of the unsynced bytes survive
	ZeroUnsynced                  // unsynced bytes become zeros (length kept)
)

// Halt stops the disk, as a power cut at this instant would: an fsync in
// progress does not complete (it never returns, and what it was to make
// durable is not), the writes, truncations, creations, removals and renames
// in progress finish, and every later operation that changes anything
// blocks forever. Reads keep working. Halt then Crash is a power cut in a
// running process: nothing more reaches the disk, and Crash sees a quiet
// one.
func (f *FS) Halt() {
	f.mu.Lock()
	f.halted = true
	f.mu.Unlock()
	f.gate.Lock()
}

// mutating holds the gate for one changing operation; call the result to
// release it.
func (f *FS) mutating() func() {
	f.gate.RLock()
	return f.gate.RUnlock
}

// Crash simulates a power cut on every file written through f. The caller
// must have closed (or abandoned) whatever used f; files are rewritten with
// the real filesystem.
func (f *FS) Crash(mode CrashMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, st := range f.files {
		if st.written <= st.synced {
			continue
		}
		keep := st.synced
		if mode == TearUnsynced {
			keep = st.synced + (st.written-st.synced)/2
		}
		if err := os.Truncate(name, keep); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if mode == ZeroUnsynced {
			if err := zeroFill(name, st.synced, st.written); err != nil {
				return err
			}
		}
		st.written = keep
	}
	return nil
}

func zeroFill(name string, from, to int64) error {
	fh, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer fh.Close()
	if err := fh.Truncate(from); err != nil {
		return err
	}
	_, err = fh.WriteAt(make([]byte, to-from), from)
	return err
}

// OpenFile opens name on the real filesystem and tracks its durability.
func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC) != 0 {
		defer f.mutating()()
	}
	h, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	info, err := h.Stat()
	if err != nil {
		h.Close()
		return nil, err
	}
	f.mu.Lock()
	st, ok := f.files[name]
	if !ok || flag&os.O_CREATE != 0 && st.written != info.Size() {
		st = &state{synced: info.Size(), written: info.Size()}
		f.files[name] = st
	}
	f.mu.Unlock()
	return &file{File: h, fs: f, st: st}, nil
}

// Remove removes name and forgets it.
func (f *FS) Remove(name string) error {
	defer f.mutating()()
	f.mu.Lock()
	delete(f.files, name)
	f.mu.Unlock()
	return os.Remove(name)
}

// Rename renames, carrying the durability state along.
func (f *FS) Rename(oldpath, newpath string) error {
	defer f.mutating()()
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	f.mu.Lock()
	if st, ok := f.files[oldpath]; ok {
		f.files[newpath] = st
		delete(f.files, oldpath)
	}
	f.mu.Unlock()
	return nil
}

// ReadDir is os.ReadDir.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// MkdirAll is os.MkdirAll.
func (f *FS) MkdirAll(path string, perm fs.FileMode) error {
	defer f.mutating()()
	return os.MkdirAll(path, perm)
}

// SyncDir fsyncs a directory (directory syncs are not faulted).
func (f *FS) SyncDir(path string) error {
	defer f.mutating()()
	return vfs.OS{}.SyncDir(path)
}

type file struct {
	*os.File
	fs *FS
	st *state
}

// Write writes what the budget allows, then fails with ENOSPC.
func (h *file) Write(p []byte) (int, error) {
	defer h.fs.mutating()()
	h.fs.mu.Lock()
	allowed := int64(len(p))
	if h.fs.writeBudget >= 0 && allowed > h.fs.writeBudget {
		allowed = h.fs.writeBudget
	}
	if h.fs.writeBudget >= 0 {
		h.fs.writeBudget -= allowed
	}
	h.fs.mu.Unlock()
	n, err := h.File.Write(p[:allowed])
	h.fs.mu.Lock()
	h.st.written += int64(n)
	h.fs.mu.Unlock()
	if err == nil && allowed < int64(len(p)) {
		err = &fs.PathError{Op: "write", Path: h.Name(), Err: syscall.ENOSPC}
	}
	return n, err
}

// Truncate truncates and records the new length as written.
func (h *file) Truncate(size int64) error {
	defer h.fs.mutating()()
	if err := h.File.Truncate(size); err != nil {
		return err
	}
	h.fs.mu.Lock()
	h.st.written = size
	if h.st.synced > size {
		h.st.synced = size
	}
	h.fs.mu.Unlock()
	return nil
}

// Sync applies the injected delay or failure, else fsyncs for real and marks
// the current length durable.
func (h *file) Sync() error {
	h.fs.mu.Lock()
	delay, serr, hook, halted := h.fs.syncDelay, h.fs.syncErr, h.fs.syncHook, h.fs.halted
	upto := h.st.written // what this fsync makes durable
	h.fs.mu.Unlock()
	if halted {
		select {} // the power is off
	}
	if hook != nil {
		hook(h.Name())
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	if serr != nil {
		return &fs.PathError{Op: "sync", Path: h.Name(), Err: serr}
	}
	if err := h.File.Sync(); err != nil {
		return err
	}
	h.fs.mu.Lock()
	if h.fs.halted {
		h.fs.mu.Unlock()
		select {} // the power went off before this fsync completed
	}
	h.st.synced = max(h.st.synced, min(upto, h.st.written))
	h.fs.mu.Unlock()
	return nil
}

package wal

import (
	"errors"
	"fmt"
)

// Errors returned by the log. Classify with errors.Is.
var (
	// ErrCorrupt is damage that is not a torn tail: a bad record with good
	// records after it, or a bad segment header before the last segment.
	// It is always wrapped in a *CorruptError naming segment and offset.
	ErrCorrupt = errors.New("wal: corrupt record")
	// ErrClosed is returned by operations on a closed log.
	ErrClosed = errors.New("wal: log closed")
	// ErrFailed is returned by appends after a write or fsync failed; the
	// log must be reopened (which repairs the tail) before it accepts more.
	ErrFailed = errors.New("wal: log failed; reopen to recover")
	// ErrTooLarge is returned for a record over Options.MaxRecordSize.
	ErrTooLarge = errors.New("wal: record too large")
	// ErrCompacted is returned when reading below the log's first sequence.
	ErrCompacted = errors.New("wal: sequence truncated from the log")
	// ErrOutOfRange is returned when reading beyond the next sequence.
	ErrOutOfRange = errors.New("wal: sequence beyond the end of the log")
	// ErrLocked is returned when another process has the log open.
	ErrLocked = errors.New("wal: log is in use by another process")
)

// Frame decoding failures; internal, always reported through ErrCorrupt or
// repaired as a torn tail.
var (
	errShortFrame  = errors.New("short frame")
	errBadLength   = errors.New("length over limit")
	errBadChecksum = errors.New("checksum mismatch")
	errBadSequence = errors.New("unexpected sequence")
)

// CorruptError locates damage the log cannot repair.
type CorruptError struct {
	Segment string // file name
	Offset  int64  // byte offset of the bad frame or header
	Reason  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: corrupt record at segment %s offset %d: %v", e.Segment, e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the underlying reason.
func (e *CorruptError) Unwrap() error { return e.Reason }

package store

import "errors"

// Sentinel errors. Callers classify with errors.Is.
var (
	// ErrCorrupt is damage before the tail of a log: a batch that fails
	// its CRC or framing while valid data follows it. It is never repaired
	// silently.
	ErrCorrupt = errors.New("store: corrupt log")
	// ErrBadBatch is a record batch whose framing, magic or CRC is wrong.
	ErrBadBatch = errors.New("store: bad record batch")
	// ErrShortBatch is a batch whose declared length runs past the data.
	ErrShortBatch = errors.New("store: short record batch")
	// ErrOffsetOutOfRange is a read below the log start or above the end.
	ErrOffsetOutOfRange = errors.New("store: offset out of range")
	// ErrClosed is returned by operations on a closed partition or store.
	ErrClosed = errors.New("store: closed")
	// ErrTooLarge is a batch or value over the configured limit.
	ErrTooLarge = errors.New("store: too large")
)

package wal

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/edgelog/edgelog/internal/vfs"
)

// FsyncPolicy says when appended records are made durable. The zero value
// is FsyncAlways, the safe default.
type FsyncPolicy int

// Fsync policies.
const (
	// FsyncAlways: an append's callback runs only after its record is
	// fsynced; concurrent appends share one fsync (group commit).
	FsyncAlways FsyncPolicy = iota
	// FsyncInterval: callbacks run once the record is written; the log
	// fsyncs at most every Options.FsyncInterval.
	FsyncInterval
	// FsyncNever: callbacks run once the record is written; the log
	// fsyncs only when a reader waits for records, at segment rotation and
	// at Close.
	FsyncNever
)

func (p FsyncPolicy) String() string {
	switch p {
	case FsyncAlways:
		return "always"
	case FsyncInterval:
		return "interval"
	case FsyncNever:
		return "never"
	}
	return fmt.Sprintf("FsyncPolicy(%d)", int(p))
}

// ParseFsyncPolicy parses "always", "interval" or "never".
func ParseFsyncPolicy(s string) (FsyncPolicy, error) {
	for _, p := range []FsyncPolicy{FsyncAlways, FsyncInterval, FsyncNever} {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("wal: unknown fsync policy %q (want always, interval or never)", s)
}

// Options configure a Log. The zero value of every field means its default.
type Options struct {
	Fsync FsyncPolicy
	// FsyncInterval is the longest time between fsyncs with FsyncInterval.
	// Default 100ms.
	FsyncInterval time.Duration
	// SegmentSize is the size at which a new segment file is started.
	// Default 64 MiB. A segment exceeds it by at most one commit batch.
	SegmentSize int64
	// MaxRecordSize bounds one record's payload. Default 4 MiB; at most
	// MaxRecordLimit.
	MaxRecordSize int
	// MaxPendingBytes bounds the bytes waiting for the next commit;
	// appends block beyond it. Default 8 MiB.
	MaxPendingBytes int
	// RepairAnyDamage treats damage anywhere in the last segment as a torn
	// tail: it is copied aside and truncated instead of failing Open. Meant
	// for FsyncInterval and FsyncNever, where a power cut may leave a hole
	// before later records that were never promised durable.
	RepairAnyDamage bool
	// FS is the filesystem; default the real one.
	FS vfs.FS
	// Logger receives recovery and failure reports; default slog.Default().
	Logger *slog.Logger
}

const (
	defaultFsyncInterval   = 100 * time.Millisecond
	defaultSegmentSize     = 64 << 20
	defaultMaxRecordSize   = 4 << 20
	defaultMaxPendingBytes = 8 << 20
	minSegmentSize         = 4 << 10
)

// validate fills defaults and rejects contradictions.
func (o *Options) validate() error {
	switch {
	case o.Fsync < FsyncAlways || o.Fsync > FsyncNever:
		return fmt.Errorf("wal: invalid fsync policy %d", o.Fsync)
	case o.FsyncInterval < 0, o.SegmentSize < 0, o.MaxRecordSize < 0, o.MaxPendingBytes < 0:
		return fmt.Errorf("wal: negative option")
	case o.MaxRecordSize > MaxRecordLimit:
		return fmt.Errorf("wal: MaxRecordSize %d over the limit %d", o.MaxRecordSize, MaxRecordLimit)
	case o.SegmentSize != 0 && o.SegmentSize < minSegmentSize:
		return fmt.Errorf("wal: SegmentSize %d under the minimum %d", o.SegmentSize, minSegmentSize)
	}
	if o.FsyncInterval == 0 {
		o.FsyncInterval = defaultFsyncInterval
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = defaultSegmentSize
	}
	if o.MaxRecordSize == 0 {
		o.MaxRecordSize = defaultMaxRecordSize
	}
	if o.MaxPendingBytes == 0 {
		o.MaxPendingBytes = defaultMaxPendingBytes
	}
	if o.FS == nil {
		o.FS = vfs.OS{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

package wal

import (
	"sync/atomic"
	"time"
)

// FsyncBuckets are the upper bounds (inclusive) of the fsync latency
// histogram in Stats, in seconds, Prometheus-style.
var FsyncBuckets = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

type counters struct {
	appended      atomic.Int64
	appendedBytes atomic.Int64
	fsyncs        atomic.Int64
	fsyncNanos    atomic.Int64
	fsyncBuckets  [len(FsyncBuckets)]atomic.Int64 // non-cumulative counts
	unsynced      atomic.Int64
	size          atomic.Int64
	repairs       atomic.Int64
	repairedBytes atomic.Int64
}

func (c *counters) observeFsync(d time.Duration) {
	c.fsyncs.Add(1)
	c.fsyncNanos.Add(int64(d))
	s := d.Seconds()
	for i, ub := range FsyncBuckets {
		if s <= ub {
			c.fsyncBuckets[i].Add(1)
			return
		}
	}
}

// Stats is a snapshot of the log's counters, for metrics.
type Stats struct {
	Appended      int64 // records appended since Open
	AppendedBytes int64 // payload bytes appended since Open
	Fsyncs        int64
	// FsyncSeconds is the total time spent in fsync.
	FsyncSeconds float64
	// FsyncBucketCounts[i] counts fsyncs that took at most FsyncBuckets[i]
	// (cumulative, as Prometheus histograms are).
	FsyncBucketCounts [len(FsyncBuckets)]uint64
	UnsyncedBytes     int64 // written but not yet fsynced
	SizeBytes         int64 // on disk, all segments
	Segments          int
	First, Next       uint64
	Durable           uint64
	Repairs           int64 // tail repairs at Open
	RepairedBytes     int64 // bytes cut off by them
}

// Stats returns current counters.
func (l *Log) Stats() Stats {
	s := Stats{
		Appended:      l.stats.appended.Load(),
		AppendedBytes: l.stats.appendedBytes.Load(),
		Fsyncs:        l.stats.fsyncs.Load(),
		FsyncSeconds:  time.Duration(l.stats.fsyncNanos.Load()).Seconds(),
		UnsyncedBytes: l.stats.unsynced.Load(),
		SizeBytes:     l.stats.size.Load(),
		Durable:       l.syncedSeq.Load(),
		Repairs:       l.stats.repairs.Load(),
		RepairedBytes: l.stats.repairedBytes.Load(),
	}
	var cum uint64
	for i := range FsyncBuckets {
		cum += uint64(l.stats.fsyncBuckets[i].Load())
		s.FsyncBucketCounts[i] = cum
	}
	l.mu.Lock()
	s.Segments, s.First, s.Next = len(l.segs), l.firstSeq, l.nextSeq
	l.mu.Unlock()
	return s
}

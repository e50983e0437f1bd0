package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgelog/edgelog/wal"
)

// dropLogEvery bounds how often drop-oldest reports what it dropped.
const dropLogEvery = time.Minute

// quota keeps the WAL under Config.MaxDisk. Space in use is the WAL's size
// on disk plus the bytes admitted but not yet committed; two publishes
// admitted at once may overshoot by one record each.
type quota struct {
	log    *wal.Log
	max    int64
	policy WhenFull
	logger *slog.Logger

	pending  atomic.Int64  // bytes admitted, not yet committed
	hubAcked atomic.Uint64 // highest sequence the hub holds durably
	dropped  atomic.Int64  // records deleted by drop-oldest
	refusing atomic.Bool   // the last admission failed for lack of space

	mu          sync.Mutex // serializes drops and trims
	lastDropLog time.Time  // mu
	droppedLog  int64      // mu: dropped since the last report
}

func newQuota(l *wal.Log, max int64, policy WhenFull, logger *slog.Logger) *quota {
	return &quota{log: l, max: max, policy: policy, logger: logger}
}

// admit reserves n bytes for a record about to be appended; release gives
// them back once the record is committed (or its append failed).
func (q *quota) admit(n int64) error {
	err := q.room(n)
	if err == nil {
		q.pending.Add(n)
	}
	q.refusing.Store(errors.Is(err, ErrFull))
	return err
}

func (q *quota) room(n int64) error {
	switch {
	case q.log.Size()+q.pending.Load()+n <= q.max:
		return nil
	case q.policy == WhenFullDropOldest:
		return q.dropOldest(n)
	}
	return ErrFull
}

func (q *quota) release(n int64) { q.pending.Add(-n) }

// full reports whether the last publish was refused for lack of space.
func (q *quota) full() bool { return q.refusing.Load() }

// dropOldest deletes whole oldest segments until n more bytes fit. The
// active segment is never deleted: if it alone is over the quota the
// publish is refused.
func (q *quota) dropOldest(n int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var dropped int64
	var err error
	// The loop alone decides: the space in use moves under concurrent
	// admissions and commits (a committed record counts in Size before
	// its reservation is released), so checking it again after the loop
	// could refuse a publish that dropping one more segment would fit.
	for q.log.Size()+q.pending.Load()+n > q.max {
		starts := q.log.SegmentStarts()
		if len(starts) < 2 {
			err = ErrFull
			break
		}
		// Records the hub holds are not counted: they are not lost.
		from := max(q.log.First(), q.hubAcked.Load()+1)
		if err := q.log.TruncateFront(starts[1]); err != nil {
			return fmt.Errorf("%w: %v", ErrWALFailed, err)
		}
		if starts[1] > from {
			dropped += int64(starts[1] - from)
		}
	}
	if dropped > 0 {
		q.dropped.Add(dropped)
		q.droppedLog += dropped
		if now := time.Now(); now.Sub(q.lastDropLog) >= dropLogEvery {
			q.logger.Warn("agent: WAL at its disk quota; dropped the oldest unsynced records",
				"dropped", q.droppedLog, "dropped_total", q.dropped.Load(), "max_disk", q.max, "first_seq", q.log.First())
			q.lastDropLog, q.droppedLog = now, 0
		}
	}
	return err
}

// setHubAcked records that the hub holds every record up to seq and trims
// the WAL below it (invariant 3: nothing the hub lacks is trimmed, except
// by drop-oldest).
func (q *quota) setHubAcked(seq uint64) error {
	for {
		cur := q.hubAcked.Load()
		if seq <= cur {
			return nil
		}
		if q.hubAcked.CompareAndSwap(cur, seq) {
			break
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.log.TruncateFront(seq + 1); err != nil {
		return fmt.Errorf("agent: trim WAL below hub-acked %d: %w", seq, err)
	}
	return nil
}

// unsynced estimates the WAL records and bytes the hub does not hold yet.
// Bytes are prorated by records within the log, which is exact when
// records are of one size.
func (q *quota) unsynced() (records uint64, bytes int64) {
	st := q.log.Stats()
	starts := q.log.SegmentStarts()
	from := max(st.First, q.hubAcked.Load()+1)
	if st.Next <= from {
		return 0, 0
	}
	records = st.Next - from
	onDisk := st.Next - starts[0]
	if onDisk == 0 {
		return records, 0
	}
	return records, int64(float64(st.SizeBytes) * float64(records) / float64(onDisk))
}

package agent

import (
	"context"
	"time"
)

// Waits between attempts to reopen a failed WAL: doubling from
// walRetryMin up to walRetryMax while the disk still fails.
const (
	walRetryMin = 100 * time.Millisecond
	walRetryMax = 10 * time.Second
)

// markFailed records a WAL failure: the agent is not ready and refuses
// every publish until recoverWAL has reopened the log.
func (a *Agent) markFailed(err error) {
	if a.failed.CompareAndSwap(false, true) {
		a.log.Error("agent: WAL failed; refusing publishes until it is reopened", "err", err)
		select {
		case a.walBroken <- struct{}{}:
		default:
		}
	}
}

// recoverWAL reopens the WAL in place after each failure (wal.Log.Reopen:
// the records whose commit failed are cut, the log is fsynced, and its
// readers, the shipper's among them, stay valid), retrying with
// exponential backoff while the disk still fails, until ctx ends. It is
// the only caller of Reopen, and it has returned before the WAL is closed.
func (a *Agent) recoverWAL(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.walBroken:
		}
		wait := walRetryMin
		for attempt := 1; ; attempt++ {
			rec, err := a.wal.Reopen(ctx)
			if err == nil {
				a.met.reopens.Inc()
				// A stale report of the old failure arriving now finds
				// failed still set and is ignored; a new failure after
				// this store is reported again.
				a.failed.Store(false)
				a.log.Info("agent: WAL reopened; accepting publishes again", "attempts", attempt,
					"next_seq", a.wal.Next(), "cut_bytes", rec.TruncatedBytes)
				break
			}
			if ctx.Err() != nil {
				return
			}
			if attempt == 1 || attempt%10 == 0 {
				a.log.Warn("agent: WAL still failing; retrying", "attempts", attempt, "retry_in", wait, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, walRetryMax)
		}
	}
}

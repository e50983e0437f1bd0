package store

import (
	"context"
	"fmt"
	"sync"
)

// WaitDurable blocks until offsets below end are durable (SyncAlways) and
// readable. Concurrent callers share fsyncs.
func (p *Partition) WaitDurable(ctx context.Context, end int64) error {
	for {
		p.mu.RLock()
		hw, failed, closed := p.hw, p.failed, p.closed
		p.mu.RUnlock()
		switch {
		case hw >= end:
			return nil
		case failed != nil:
			return failed
		case closed:
			return ErrClosed
		}
		select {
		case p.syncSem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		err := p.syncLocked()
		<-p.syncSem
		if err != nil {
			return err
		}
	}
}

// Sync fsyncs everything written so far and advances the high watermark.
func (p *Partition) Sync(ctx context.Context) error {
	select {
	case p.syncSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.syncSem }()
	return p.syncLocked()
}

// syncLocked runs one fsync if anything written is not yet durable; the
// caller holds syncSem.
func (p *Partition) syncLocked() error {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ErrClosed
	}
	end, s, synced, failed := p.next, p.segs[len(p.segs)-1], p.synced, p.failed
	p.mu.RUnlock()
	if failed != nil {
		return failed
	}
	if synced >= end {
		return nil
	}
	// Everything before end is in s or in older segments, which roll
	// fsynced before s was created.
	err := s.f.Sync()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failed = fmt.Errorf("store: fsync %s: %w", s.path, err)
		return p.failed
	}
	if end > p.synced {
		p.synced = end
	}
	p.advance(end)
	return nil
}

// Pending is a write to wait for: everything below End in P.
type Pending struct {
	P   *Partition
	End int64
}

// WaitAll waits until every pending write is durable, the partitions'
// fsyncs running concurrently; errs[i] is ws[i]'s outcome.
func WaitAll(ctx context.Context, ws []Pending) []error {
	errs := make([]error, len(ws))
	if len(ws) == 1 {
		errs[0] = ws[0].P.WaitDurable(ctx, ws[0].End)
		return errs
	}
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.P.WaitDurable(ctx, w.End)
		}()
	}
	wg.Wait()
	return errs
}

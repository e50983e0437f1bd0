package hub

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/edgelog/edgelog/hub/store"
	"github.com/edgelog/edgelog/record"
)

// AgentRecord is one record of an agent's WAL with its sequence number.
type AgentRecord struct {
	Seq uint64
	Rec record.Record
}

// Merge limits.
const (
	maxAgentID = 256
	// mergeBatchBytes bounds one stored batch built from agent records.
	mergeBatchBytes = 1 << 20
)

// ErrMergeAborted is returned by merges of an agent whose earlier merge
// failed, until the agent's session restarts from AgentResume.
var ErrMergeAborted = fmt.Errorf("hub: an earlier merge of this agent failed; resume from AgentResume")

// agentState is the ingest state of one (agent ID, WAL epoch).
type agentState struct {
	id, epoch, key string

	mu       sync.Mutex    // serializes the write phase of this agent's merges; protects below
	appended uint64        // every seq <= appended is in a partition (or on its way, see tail)
	tail     *PendingMerge // the last started merge
	broken   bool          // a merge failed; refuse merges until AgentResume

	watermark atomic.Uint64 // highest seq merged durably and persisted
}

// PendingMerge is a merge whose records are written and on their way to
// disk. Merges of one agent complete in the order they started.
type PendingMerge struct {
	st    *agentState
	last  uint64
	waits []store.Pending
	prev  *PendingMerge
	done  chan struct{}

	// Set before done is closed.
	through uint64
	err     error

	// Appended and Dropped count this merge's records written and dropped
	// as duplicates.
	Appended, Dropped int
}

// Merge appends records from one agent exactly once and returns once all
// are durable and the agent's watermark is persisted. mergedThrough is the
// new watermark: every record of this WAL epoch with seq <= it is in the
// hub exactly once.
//
// recs must be in strictly increasing seq order, and calls for one agent
// must be made in seq order (a later call never carries records older than
// an earlier one's); records at or below what was already merged are
// dropped. After an error, the agent's next calls fail with
// ErrMergeAborted until its session restarts from AgentResume.
func (b *Broker) Merge(ctx context.Context, agentID, epoch string, recs []AgentRecord) (mergedThrough uint64, err error) {
	pm, err := b.StartMerge(ctx, agentID, epoch, recs)
	if err != nil {
		return 0, err
	}
	return pm.Wait(ctx)
}

// AgentResume tells where an agent with this WAL epoch must resume: the
// last merged seq + 1 (1 for an unknown epoch). It also ends the aborted
// state left by a failed merge.
func (b *Broker) AgentResume(agentID, epoch string) uint64 {
	if validateAgent(agentID, epoch) != nil {
		return 1
	}
	st := b.agentFor(agentID, epoch)
	st.mu.Lock()
	st.broken = false
	st.mu.Unlock()
	return st.watermark.Load() + 1
}

func validateAgent(agentID, epoch string) error {
	if agentID == "" || len(agentID) > maxAgentID || !utf8.ValidString(agentID) || containsNUL(agentID) {
		return fmt.Errorf("%w: agent ID %q", ErrInvalidAgent, agentID)
	}
	if !validEpoch(epoch) {
		return fmt.Errorf("%w: epoch %q", ErrInvalidAgent, epoch)
	}
	return nil
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}

// StartMerge is the first half of Merge: it writes the records (in call
// order, without waiting for fsync) and returns a PendingMerge to Wait on.
// A sync session may start several merges back to back and wait for them
// in order, keeping several batches in flight.
func (b *Broker) StartMerge(ctx context.Context, agentID, epoch string, recs []AgentRecord) (*PendingMerge, error) {
	if err := validateAgent(agentID, epoch); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%w: no records", ErrInvalidMerge)
	}
	for i := range recs {
		if recs[i].Seq == 0 || (i > 0 && recs[i].Seq <= recs[i-1].Seq) {
			return nil, fmt.Errorf("%w: sequence %d at index %d is not increasing", ErrInvalidMerge, recs[i].Seq, i)
		}
		if err := recs[i].Rec.Validate(); err != nil {
			return nil, fmt.Errorf("%w: seq %d: %w", ErrInvalidMerge, recs[i].Seq, err)
		}
	}
	st := b.agentFor(agentID, epoch)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.broken {
		return nil, ErrMergeAborted
	}
	pm := &PendingMerge{st: st, last: recs[len(recs)-1].Seq, prev: st.tail, done: make(chan struct{})}
	if err := b.writeAgentRecords(ctx, st, recs, pm); err != nil {
		st.broken = true
		return nil, err
	}
	if pm.last > st.appended {
		st.appended = pm.last
	}
	st.tail = pm
	b.mu.RLock()
	closed := b.closed
	if !closed {
		b.wg.Add(1)
	}
	b.mu.RUnlock()
	if closed {
		pm.finish(b, 0, ErrClosed)
		return pm, nil
	}
	go b.completeMerge(pm)
	return pm, nil
}

// partKey identifies a partition while grouping records.
type partKey struct {
	topic *Topic
	index int32
}

// writeAgentRecords groups recs by target partition (keeping order) and
// writes those above both st.appended and the partition's mark; st.mu held.
func (b *Broker) writeAgentRecords(ctx context.Context, st *agentState, recs []AgentRecord, pm *PendingMerge) error {
	groups := map[partKey][]*AgentRecord{}
	var order []partKey
	for i := range recs {
		r := &recs[i]
		if r.Seq <= st.appended {
			pm.Dropped++
			continue
		}
		t, _, err := b.EnsureTopic(ctx, b.cfg.route(r.Rec.Topic))
		if err != nil {
			return err
		}
		k := partKey{t, PartitionForKey([]byte(r.Rec.ClientID), t.Partitions())}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var buf []byte
	var batch []store.Record
	for _, k := range order {
		p := k.topic.parts[k.index]
		rs := groups[k]
		if mark, known := p.ProducerSeq(st.key); known {
			// Written before a crash (or by a merge still in flight):
			// the partition's own mark says exactly which are there.
			n := 0
			for n < len(rs) && rs[n].Seq <= uint64(mark) {
				n++
			}
			if n > 0 {
				pm.Dropped += n
				_, _, end := p.Offsets()
				pm.waits = append(pm.waits, store.Pending{P: p, End: end})
				rs = rs[n:]
			}
		}
		for len(rs) > 0 {
			buf, batch = buf[:0], batch[:0]
			size := 0
			first, last := int64(rs[0].Seq), int64(0)
			for len(rs) > 0 && (len(batch) == 0 || size < mergeBatchBytes) {
				r := rs[0]
				batch = append(batch, agentRecord(st.id, st.epoch, r.Seq, &r.Rec))
				size += len(r.Rec.Payload) + len(r.Rec.Topic) + 64
				last = int64(r.Seq)
				rs = rs[1:]
			}
			buf = store.AppendProducerBatch(buf, IngestProducerID, batch)
			infos, err := store.SplitBatches(buf, len(buf))
			if err != nil {
				return fmt.Errorf("hub: merge: %w", err)
			}
			_, end, err := p.WriteProducer(buf, infos, st.key, func(cur int64, known bool) (int64, error) {
				if known && cur >= first {
					return 0, fmt.Errorf("hub: merge: seq %d at or below mark %d", first, cur)
				}
				return last, nil
			})
			if err != nil {
				return fmt.Errorf("hub: merge into %s/%d: %w", k.topic.name, k.index, err)
			}
			pm.Appended += len(batch)
			pm.waits = append(pm.waits, store.Pending{P: p, End: end})
		}
	}
	b.metrics.merged.Add(float64(pm.Appended))
	b.metrics.duplicates.Add(float64(pm.Dropped))
	b.noteMerged(st, pm.Appended, pm.Dropped)
	return nil
}

// completeMerge waits for durability and for the previous merge, then
// persists the watermark; it runs on its own goroutine per merge.
func (b *Broker) completeMerge(pm *PendingMerge) {
	defer b.wg.Done()
	for _, err := range store.WaitAll(b.ctx, pm.waits) {
		if err != nil {
			pm.finish(b, 0, fmt.Errorf("hub: merge: %w", err))
			return
		}
	}
	if pm.prev != nil {
		<-pm.prev.done
		if pm.prev.err != nil {
			pm.finish(b, 0, fmt.Errorf("%w: %w", ErrMergeAborted, pm.prev.err))
			return
		}
		pm.prev = nil // let it be collected
	}
	st := pm.st
	through := st.watermark.Load()
	if pm.last > through {
		through = pm.last
		if b.testHookBeforePersist != nil {
			b.testHookBeforePersist()
		}
		if err := b.persistWatermark(st, through); err != nil {
			pm.finish(b, 0, err)
			return
		}
	}
	pm.finish(b, through, nil)
}

// finish records the outcome and releases waiters.
func (pm *PendingMerge) finish(b *Broker, through uint64, err error) {
	st := pm.st
	if err != nil {
		st.mu.Lock()
		st.broken = true
		st.appended = st.watermark.Load() // later merges consult the partition marks again
		st.mu.Unlock()
		b.log.Warn("hub: merge failed", "agent", st.id, "epoch", st.epoch, "err", err)
	} else {
		st.watermark.Store(through)
		b.noteAcked(st, through)
	}
	pm.through, pm.err = through, err
	close(pm.done)
}

// Wait returns once the merge is durable and persisted (or failed). If ctx
// ends first the merge still completes in the background.
func (pm *PendingMerge) Wait(ctx context.Context) (mergedThrough uint64, err error) {
	select {
	case <-pm.done:
		return pm.through, pm.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Done is closed when the merge has completed.
func (pm *PendingMerge) Done() <-chan struct{} { return pm.done }

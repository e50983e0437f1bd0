package hub

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/edgelog/edgelog/hub/store"
)

// ProduceResult is the outcome of a successful Produce.
type ProduceResult struct {
	BaseOffset int64 // offset of the first record written
	LogStart   int64 // the partition's log start offset
}

// Appended is the outcome of Append: where the records went and what to
// wait for before acknowledging them.
type Appended struct {
	BaseOffset int64
	End        int64 // wait for durability up to here (WaitDurable)
	Partition  *store.Partition
	Records    int
}

const (
	attrTransactional = 0x10
	attrControl       = 0x20
)

// Produce appends the record set of one partition of a Kafka Produce request
// and, with acks != 0, returns once the records are durable under the fsync
// policy. See Append.
func (b *Broker) Produce(ctx context.Context, topic string, partition int32, records []byte, acks int16) (ProduceResult, error) {
	a, err := b.Append(topic, partition, records)
	if err != nil && a.Partition == nil {
		return ProduceResult{}, err
	}
	if acks != 0 {
		if werr := a.Partition.WaitDurable(ctx, a.End); werr != nil {
			return ProduceResult{}, werr
		}
	}
	if err != nil {
		return ProduceResult{}, err
	}
	start, _, _ := a.Partition.Offsets()
	return ProduceResult{BaseOffset: a.BaseOffset, LogStart: start}, nil
}

// Append writes the record set of one partition of a Kafka Produce request
// (concatenated v2 batches, stored as they are) without waiting for
// durability. Idempotent producers' batches are checked against the
// partition's producer marks, atomically with the write: a batch at or
// below the producer's last sequence is ErrDuplicateSequence (already
// stored, nothing written; the result still says what to wait for, since
// the original may not be durable yet), a gap is ErrOutOfOrderSequence.
func (b *Broker) Append(topic string, partition int32, records []byte) (Appended, error) {
	p, err := b.Partition(topic, partition)
	if err != nil {
		return Appended{}, err
	}
	infos, err := store.SplitBatches(records, b.cfg.MaxBatch)
	if err != nil {
		return Appended{}, err
	}
	if len(infos) == 0 {
		return Appended{}, fmt.Errorf("%w: no record batch", store.ErrBadBatch)
	}
	pid := infos[0].ProducerID
	nrec := 0
	off := 0
	for _, info := range infos {
		batch := records[off : off+info.Size]
		off += info.Size
		if err := checkRecords(batch, info); err != nil {
			return Appended{}, err
		}
		switch {
		case info.Attributes&(attrTransactional|attrControl) != 0:
			return Appended{}, fmt.Errorf("%w: transactional batches are not supported", ErrUnsupportedBatch)
		case info.ProducerID >= reservedProducerIDs:
			return Appended{}, fmt.Errorf("%w: %d", ErrInvalidProducerID, info.ProducerID)
		case info.ProducerID != pid:
			return Appended{}, fmt.Errorf("%w: batches of several producers in one partition", ErrUnsupportedBatch)
		}
		nrec += int(info.RecordCount)
	}
	var base, end int64
	if pid < 0 || infos[0].BaseSequence < 0 {
		base, end, err = p.Write(records, infos)
	} else {
		base, end, err = b.writeIdempotent(p, records, infos)
	}
	if errors.Is(err, ErrDuplicateSequence) {
		_, _, end := p.Offsets()
		return Appended{BaseOffset: -1, End: end, Partition: p}, err
	}
	if err != nil {
		return Appended{}, err
	}
	b.metrics.produced.Add(float64(nrec))
	b.metrics.producedBytes.Add(float64(len(records)))
	return Appended{BaseOffset: base, End: end, Partition: p, Records: nrec}, nil
}

// checkRecords rejects a batch whose record count disagrees with its
// header, or (uncompressed) whose records do not decode: consumers must be
// able to read everything stored. Compressed batches are checked by their
// header only.
func checkRecords(batch []byte, info store.BatchInfo) error {
	if info.RecordCount < 1 || info.LastOffsetDelta != info.RecordCount-1 {
		return fmt.Errorf("%w: %d records, last offset delta %d", store.ErrBadBatch, info.RecordCount, info.LastOffsetDelta)
	}
	if info.Compression() != 0 {
		return nil
	}
	return store.ValidateRecords(batch, info)
}

// writeIdempotent writes an idempotent producer's batches one by one, each
// checked against the producer's mark.
func (b *Broker) writeIdempotent(p *store.Partition, records []byte, infos []store.BatchInfo) (base, end int64, err error) {
	key := kafkaProducer(infos[0].ProducerID)
	off := 0
	for i := range infos {
		info := infos[i]
		batch := records[off : off+info.Size]
		off += info.Size
		bbase, bend, err := p.WriteProducer(batch, infos[i:i+1], key, func(cur int64, known bool) (int64, error) {
			return checkSequence(cur, known, info)
		})
		if err != nil {
			return 0, 0, err
		}
		if i == 0 {
			base = bbase
		}
		end = bend
	}
	return base, end, nil
}

// checkSequence applies Kafka's idempotent-producer rules to one batch
// given the producer's current mark.
func checkSequence(cur int64, known bool, info store.BatchInfo) (int64, error) {
	first := info.BaseSequence
	next := producerMark(info.ProducerEpoch, lastSequence(info))
	if !known {
		return next, nil
	}
	curEpoch, curSeq := splitMark(cur)
	switch {
	case info.ProducerEpoch < curEpoch:
		return 0, fmt.Errorf("%w: epoch %d, current %d", ErrProducerFenced, info.ProducerEpoch, curEpoch)
	case info.ProducerEpoch > curEpoch:
		if first != 0 {
			return 0, fmt.Errorf("%w: new epoch %d starts at sequence %d", ErrOutOfOrderSequence, info.ProducerEpoch, first)
		}
		return next, nil
	case first == curSeq+1 || (curSeq == math.MaxInt32 && first == 0):
		return next, nil
	case first <= curSeq:
		return 0, fmt.Errorf("%w: sequence %d, last stored %d", ErrDuplicateSequence, first, curSeq)
	default:
		return 0, fmt.Errorf("%w: sequence %d, expected %d", ErrOutOfOrderSequence, first, curSeq+1)
	}
}

// lastSequence is the sequence of a batch's last record; sequences wrap
// to 0 after MaxInt32, as in Kafka.
func lastSequence(info store.BatchInfo) int32 {
	l := int64(info.BaseSequence) + int64(info.LastOffsetDelta)
	if l > math.MaxInt32 {
		l -= math.MaxInt32 + 1
	}
	return int32(l)
}

const (
	kvProducerIDKey = "meta/producer-id-limit"
	producerIDBlock = 1000
)

func (b *Broker) loadProducerIDs() {
	b.nextPID, b.pidLimit = 1, 1
	if v, ok := b.kv.Get(kvProducerIDKey); ok && len(v) == 8 {
		b.nextPID = int64(binary.BigEndian.Uint64(v))
		b.pidLimit = b.nextPID
	}
}

// NewProducerID issues a producer ID for an idempotent Kafka producer. IDs
// are never reused, across restarts too (blocks are reserved durably).
func (b *Broker) NewProducerID(ctx context.Context) (int64, error) {
	b.pidMu.Lock()
	defer b.pidMu.Unlock()
	if b.nextPID >= b.pidLimit {
		limit := b.pidLimit + producerIDBlock
		if limit >= reservedProducerIDs {
			return 0, fmt.Errorf("%w: producer IDs exhausted", ErrInvalidProducerID)
		}
		if err := b.kv.Put(ctx, store.KVEntry{Key: kvProducerIDKey, Value: binary.BigEndian.AppendUint64(nil, uint64(limit))}); err != nil {
			return 0, fmt.Errorf("hub: reserve producer IDs: %w", err)
		}
		b.pidLimit = limit
	}
	id := b.nextPID
	b.nextPID++
	return id, nil
}

// IssuedProducerID reports whether id was issued by NewProducerID.
func (b *Broker) IssuedProducerID(id int64) bool {
	b.pidMu.Lock()
	defer b.pidMu.Unlock()
	return id >= 1 && id < b.nextPID
}

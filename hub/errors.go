package hub

import "errors"

// Sentinel errors; classify with errors.Is. Storage errors from hub/store
// (store.ErrBadBatch, store.ErrOffsetOutOfRange, ...) pass through wrapped.
var (
	ErrClosed            = errors.New("hub: closed")
	ErrUnknownTopic      = errors.New("hub: unknown topic")
	ErrUnknownPartition  = errors.New("hub: unknown partition")
	ErrTopicExists       = errors.New("hub: topic already exists")
	ErrInvalidTopic      = errors.New("hub: invalid topic name")
	ErrInvalidConfig     = errors.New("hub: invalid config")
	ErrInvalidPartitions = errors.New("hub: invalid number of partitions")
	ErrInvalidAgent      = errors.New("hub: invalid agent ID or epoch")
	ErrInvalidMerge      = errors.New("hub: invalid merge batch")
	ErrInvalidGroup      = errors.New("hub: invalid group ID")

	// Produce errors for idempotent Kafka producers.
	ErrDuplicateSequence  = errors.New("hub: duplicate producer sequence")
	ErrOutOfOrderSequence = errors.New("hub: out of order producer sequence")
	ErrProducerFenced     = errors.New("hub: producer epoch is older than the current one")
	ErrInvalidProducerID  = errors.New("hub: producer ID not issued by this hub")
	ErrUnsupportedBatch   = errors.New("hub: unsupported record batch")
)

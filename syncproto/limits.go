package syncproto

import (
	"fmt"
	"time"

	"github.com/edgelog/edgelog/record"
)

// Limits are the hub's terms for a session, sent in the Welcome. The zero
// value of each field means its default.
type Limits struct {
	// MaxBatchBytes bounds the encoded record list of one batch before
	// compression. Default 1 MiB.
	MaxBatchBytes int `cbor:"1,keyasint"`
	// MaxBatchRecords bounds the records in one batch. Default 8192.
	MaxBatchRecords int `cbor:"2,keyasint"`
	// MaxRecordBytes bounds one record; a batch holding a single record may
	// exceed MaxBatchBytes up to this. Default record.MaxEncoded.
	MaxRecordBytes int `cbor:"3,keyasint"`
	// MaxInFlight bounds the batches sent and not yet acknowledged.
	// Default 8.
	MaxInFlight int `cbor:"4,keyasint"`
	// HeartbeatMs is the interval between heartbeats, each way, in
	// milliseconds; a peer silent for LivenessFactor intervals is dead.
	// Default 5000.
	HeartbeatMs int `cbor:"5,keyasint"`
}

// Hard bounds on Limits: a Welcome outside them is malformed.
const (
	HardMaxBatchBytes   = 64 << 20
	HardMaxBatchRecords = 1 << 16
	HardMaxRecordBytes  = 64 << 20
	HardMaxInFlight     = 256
	MinHeartbeatMs      = 10
	MaxHeartbeatMs      = 10 * 60 * 1000
	// LivenessFactor is how many heartbeat intervals of silence end a
	// session.
	LivenessFactor = 3
)

const (
	defaultMaxBatchBytes   = 1 << 20
	defaultMaxBatchRecords = 8192
	defaultMaxInFlight     = 8
	defaultHeartbeatMs     = 5000
	// batchOverhead bounds a Batch frame's header map.
	batchOverhead = 128
)

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxBatchBytes == 0 {
		l.MaxBatchBytes = defaultMaxBatchBytes
	}
	if l.MaxBatchRecords == 0 {
		l.MaxBatchRecords = defaultMaxBatchRecords
	}
	if l.MaxRecordBytes == 0 {
		l.MaxRecordBytes = record.MaxEncoded
	}
	if l.MaxInFlight == 0 {
		l.MaxInFlight = defaultMaxInFlight
	}
	if l.HeartbeatMs == 0 {
		l.HeartbeatMs = defaultHeartbeatMs
	}
	return l
}

// Validate fills defaults and rejects values outside the hard bounds.
func (l *Limits) Validate() error {
	*l = l.WithDefaults()
	if err := l.check(); err != nil {
		return fmt.Errorf("syncproto: invalid limits: %w", err)
	}
	return nil
}

// check rejects limits outside the hard bounds (zero included).
func (l Limits) check() error {
	switch {
	case l.MaxBatchBytes < 1 || l.MaxBatchBytes > HardMaxBatchBytes:
		return malformed("max batch bytes %d", l.MaxBatchBytes)
	case l.MaxBatchRecords < 1 || l.MaxBatchRecords > HardMaxBatchRecords:
		return malformed("max batch records %d", l.MaxBatchRecords)
	case l.MaxRecordBytes < 1 || l.MaxRecordBytes > HardMaxRecordBytes:
		return malformed("max record bytes %d", l.MaxRecordBytes)
	case l.MaxInFlight < 1 || l.MaxInFlight > HardMaxInFlight:
		return malformed("max in flight %d", l.MaxInFlight)
	case l.HeartbeatMs < MinHeartbeatMs || l.HeartbeatMs > MaxHeartbeatMs:
		return malformed("heartbeat %d ms", l.HeartbeatMs)
	}
	return nil
}

// Heartbeat is the heartbeat interval.
func (l Limits) Heartbeat() time.Duration { return time.Duration(l.HeartbeatMs) * time.Millisecond }

// MaxDataFrame is the largest Batch frame (type byte and body) a session
// under l may carry: the frame cap for the data stream.
func (l Limits) MaxDataFrame() int {
	return max(l.MaxBatchBytes, rawListSize(1, l.MaxRecordBytes)) + batchOverhead
}

// fits reports whether a record list of n records and raw encoded bytes is
// within l.
func (l Limits) fits(n, raw int) bool {
	if n < 1 || n > l.MaxBatchRecords {
		return false
	}
	return raw <= l.MaxBatchBytes || (n == 1 && raw <= rawListSize(1, l.MaxRecordBytes))
}

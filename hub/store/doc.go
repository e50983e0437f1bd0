// Package store is the hub's storage: per-partition logs of Kafka v2 record
// batches, and a small durable key-value map for everything else (topic
// configs, consumer-group offsets, ingest watermarks).
//
// # Partition logs
//
// A Partition is a directory of segment files named by their base offset.
// Batches are stored exactly in Kafka wire form (only the base offset and
// leader epoch, both outside the batch CRC, are rewritten on append), so
// Fetch serves stored bytes as they are. Contract:
//
//   - Offsets are dense: a batch's base offset is the previous batch's last
//     offset + 1. The log start offset is the base of the oldest segment.
//   - Write appends; WaitDurable(end) returns once everything below end is
//     fsynced (SyncAlways) — concurrent waiters share one fsync. The high
//     watermark, the limit of what Read returns, only covers durable
//     batches under SyncAlways, and written ones otherwise.
//   - A segment is fsynced before the next is created, and the directory is
//     fsynced after a segment is created or removed, so a torn write can
//     only be in the newest segment. Open checks every batch's framing and
//     CRC: a torn or zero-filled tail of the newest segment is truncated
//     (TruncatedBytes); damage followed by valid data, or in an older
//     segment, is ErrCorrupt.
//   - A failed fsync makes the partition refuse writes until reopened.
//   - Producer marks: WriteProducer stores, atomically with a write, a mark
//     (highest sequence) for a producer key, checked under the partition
//     lock. Marks are not stored separately: on open they are rebuilt from
//     the batches through PartitionConfig.Marks, so a mark is exactly as
//     durable as the batch that carries it. Retain saves the marks of
//     deleted segments to a snapshot file first.
//   - Retain deletes whole segments by age (newest record older than the
//     limit) and size (Kafka's retention.bytes rule); see Retain.
//
// # KV
//
// KV is a map persisted as an append-only file of CRC-framed frames, one
// per Put (atomic), group-committed, compacted by rewrite-and-rename.
package store

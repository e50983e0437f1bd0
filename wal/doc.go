// Package wal is edgelog's write-ahead log: a segmented, append-only log of
// opaque records addressed by a dense uint64 sequence, built to survive power
// cuts, full disks and flash that tears writes.
//
// # Contract
//
//   - Sequences are dense and start at 1 in a new log. A log has an epoch, a
//     random ID created with it (Epoch); a new epoch means sequences start
//     over and must not be matched with an older log's.
//   - Append/AppendAsync may be called from any number of goroutines.
//     Concurrent appends share one write and one fsync (group commit).
//     Under FsyncAlways an append's callback runs only after the fsync that
//     covers its record has returned; under FsyncInterval and FsyncNever it
//     runs once the record is written. Callbacks run on the commit goroutine,
//     in sequence order, and must not block.
//   - Readers (NewReader) see only durable records, tail the log while
//     appends continue, and never hold a lock across I/O: a reader never
//     delays an append's fsync.
//   - TruncateFront(seq) makes seq the first readable sequence at once and
//     deletes whole segments below it (cheap: no data is copied). Records
//     below seq that share a segment with it stay on disk until that segment
//     goes, so after a reopen First may be lower than the last TruncateFront.
//   - Size is the bytes on disk; quota policy belongs to the caller.
//   - Every record is framed with its length, its sequence and a CRC32C over
//     both and the payload (record.go). Open scans the last segment: a torn
//     tail, a zero-filled tail or a bad record with nothing good after it is
//     copied to DIR/damaged, truncated away and counted (Recovery, Stats).
//     Damage followed by good records, or in an older segment, is a
//     *CorruptError ("wal: corrupt record at segment S offset O"), never
//     silent garbage. With FsyncInterval/FsyncNever, Options.RepairAnyDamage
//     treats any damage in the last segment as a torn tail, since records
//     there were never promised durable.
//   - The directory is fsynced after a segment is created or removed, and a
//     segment is fsynced before the next one is created, so a torn write can
//     only ever be in the last segment.
//   - After a failed write or fsync the log refuses appends (ErrFailed) until
//     it is reopened; no callback reports success for a record written after
//     the failure. Reopen recovers in place (the *Log and its Readers stay
//     valid): it cuts what was written after the last committed record
//     (under FsyncAlways, after Durable), fsyncs, and takes appends again.
//   - Open fsyncs the last segment, so records a killed writer left in the
//     page cache are durable before Durable reports them.
//   - One process at a time: Open takes an advisory lock (ErrLocked).
//
// # Why not tidwall/wal
//
// The design brief chose github.com/tidwall/wal v1.2.1 as the base, to be
// hardened with a thin layer, and asked for the evidence if that layer could
// not stay simple or meet the goals. It could not, for structural reasons:
//
//   - Tail repair cannot be layered: tidwall/wal's Open parses the whole last
//     segment and fails with ErrCorrupt on a torn entry, so a layer would have
//     to parse and rewrite tidwall's own on-disk format before every open —
//     the segment scanner this package has anyway.
//   - It keeps the tail segment in memory: 16.4 MiB of heap after opening a
//     log whose last segment is 16 MiB, against 0.01 MiB here (and up to two
//     more cached segments when reading older ones) — too much on a small
//     gateway with a 64 MiB budget.
//   - Trimming inside a segment rewrites it: TruncateFront copies the rest of
//     the segment into a new file, 17 ms per trim of a 16 MiB segment, against
//     11 ns here (a bound moves; whole segments are deleted). The agent trims
//     on every hub acknowledgement.
//   - Reads take the same lock WriteBatch holds across its fsync, so a
//     tailing shipper waits behind every fsync; it never fsyncs its directory.
//   - Throughput with the thinnest group-commit layer on top (one WriteBatch
//     and fsync per queue of framed records, tidwall_bench_test.go), 256
//     appenders, 200-byte records, FsyncAlways: 459,000 records/s with p99
//     1.74 ms, against 623,000 records/s with p99 0.78 ms here (same run).
//
// Measured on the 2-core development machine, 2026-11-25, with
//
//	go test -run '^$' -bench 'Tidwall|Truncate|OpenHeap|Append/fsync=always/appenders=256' -benchtime 2s ./wal/
//
// tidwall/wal stays a test-only dependency so the comparison can be re-run.
package wal

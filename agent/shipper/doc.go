// Package shipper replicates an agent's WAL to the hub over the sync
// protocol (syncproto, QUIC via syncproto/quictransport).
//
// Contract:
//   - One ordered path per agent: the shipper tails the WAL from the hub's
//     resume point and sends every durable record, in sequence, in batches
//     of consecutive records (zstd-compressed when that helps), with up to
//     the hub's MaxInFlight batches unacknowledged. Backlog and live data
//     are the same stream: when the window opens, a batch takes whatever is
//     durable, up to the limits, so batches grow with the backlog and stay
//     small (low latency) when the agent keeps up.
//   - Only fsynced records are shipped, so the hub never holds a record a
//     power cut could take from the agent (whose WAL would then reuse the
//     sequence). When records wait unsynced for 20 ms (a WAL with
//     --fsync never), the shipper fsyncs them itself before sending.
//   - onHubAcked(seq) is called only with sequences the hub reported as
//     durably merged (its Welcome's resume point minus one, and every Ack),
//     never decreasing: the agent trims its WAL below them and nothing else
//     (DESIGN.md invariant 3).
//   - Any failure ends the connection; the shipper reconnects after an
//     exponential backoff with full jitter (a random wait between zero and
//     min(BackoffMax, BackoffBase·2^attempt)), so agents that lost the same
//     hub do not return in step. The new session resumes where the hub's
//     durable state ends, which retransmits exactly what was not
//     acknowledged.
//   - MaxUploadRate caps the bytes written to the data stream (token
//     bucket); heartbeats and acknowledgements are not counted.
//   - A refusal the agent cannot fix by retrying (revoked, unauthorized,
//     epoch conflict, bad version) is logged at error level and shown in
//     SyncStatus().LastError; the shipper keeps retrying at the backoff
//     cap, so lifting a revocation needs no restart.
//   - Shutdown (Run's context ends, after the agent fsynced its WAL): stop
//     reading the WAL, wait up to DrainTimeout for the batches in flight to
//     be acknowledged, close the connection with CodeShuttingDown.
//
// Metrics (on Config.Registry): edgelog_sync_connected, _acked_seq,
// _lag_records, _lag_bytes (estimated from the WAL's average record size),
// _lag_oldest_seconds, _batches_total, _records_total, _raw_bytes_total,
// _wire_bytes_total, _compression_ratio, _reconnects_total and
// _session_errors_total{code}. Run is called once per Shipper.
//
// Ownership: Run's goroutine owns the session state machine and the control
// stream's writing side; a builder goroutine owns the WAL reader, a writer
// goroutine the data stream.
package shipper

// Package syncproto is the protocol that replicates an agent's write-ahead
// log to the hub: frames, version negotiation, error codes, and the session
// logic of both sides as state machines that do no I/O. The QUIC binding is
// in syncproto/quictransport, the only package that imports quic-go.
//
// # Transport
//
// One QUIC connection per agent, ALPN "edgelog-sync/1", TLS 1.3 with a
// client certificate signed by the hub's CA. The agent ID is the
// certificate's common name; a Hello naming anyone else is refused. QUIC
// connection migration stays enabled, so a NAT rebinding or a change of
// interface keeps the session. Reconnections resume the TLS session. With
// 0-RTT enabled on the agent (quictransport.Config.ZeroRTT; off by default
// until quic-go fixes a data race in it) and a session ticket in hand, the
// agent sends the Hello as 0-RTT data; the hub reads it but answers, and accepts
// data streams, only once the handshake has completed. A hub that cannot
// accept the 0-RTT data (it restarted) rejects it, and the agent resends
// the Hello after the full handshake on the same connection.
//
// Streams:
//
//	control  bidirectional, opened by the agent, urgency 0 (highest):
//	         Hello → Welcome | Error, then Heartbeats both ways, Acks
//	         hub → agent, and a final Error from either side.
//	data     unidirectional, agent → hub, opened after the Welcome:
//	         Batch frames, in sequence order.
//
// Liveness never waits behind data: the control stream carries only small
// frames and has scheduling priority, and acknowledgements travel the
// otherwise idle hub → agent direction.
//
// # Frames
//
// Every frame on every stream:
//
//	 0        4        5
//	+--------+--------+----------------------------------------+
//	| length (uint32, |  type  |  body (length-1 bytes)        |
//	|  big endian)    |        |                               |
//	+--------+--------+----------------------------------------+
//
// length counts the type byte and the body. A reader refuses a length of 0
// or above its stream's cap before allocating: MaxControlFrame (64 KiB) on
// the control stream, Limits.MaxDataFrame() on the data stream.
//
// Control bodies are CBOR maps with small-integer keys (unknown keys are
// ignored, so later versions can add fields; duplicate keys, indefinite
// lengths, tags and invalid UTF-8 are refused):
//
//	type 1 Hello      {1: agent ID (text ≤ 256 B), 2: [versions] (1–16),
//	                   3: WAL epoch (text ≤ 64 B), 4: first seq held,
//	                   5: next seq to be appended}           agent → hub
//	type 2 Welcome    {1: chosen version, 2: resume-from seq,
//	                   3: {1: max batch bytes, 2: max batch records,
//	                       3: max record bytes, 4: max batches in flight,
//	                       5: heartbeat interval ms}}        hub → agent
//	type 3 Error      {1: code, 2: message (text ≤ 1 KiB)}   either way
//	type 4 Heartbeat  {1: sender time ms, agent → hub also: 2: durable seq,
//	                   3: lag bytes, 4: age of oldest unacked record ms}
//	type 5 Ack        {1: acked-through seq}                 hub → agent
//
// A Batch (type 6, data stream) carries consecutive WAL records: record i
// has sequence first+i and its payload is the WAL record's bytes unchanged
// (a record.Record in its CBOR encoding). Its body is a CBOR header map
// followed, to the end of the frame, by the record list:
//
//	+---------------------------------------------+---------------------+
//	| {1: first seq, 2: count, 3: codec,          | record list, raw or |
//	|  4: raw length of the record list}          | zstd-compressed     |
//	+---------------------------------------------+---------------------+
//
//	record list = CBOR array (count items) of byte strings, definite lengths
//	codec       = 0 none | 1 zstd (used only when it makes the list smaller)
//
// The decoder checks count and raw length against the session's Limits
// before allocating, decompresses into a buffer of exactly the raw length
// (the zstd decoder is capped at the largest allowed list), and splits the
// list without copying. A batch holds at most MaxBatchRecords records and
// MaxBatchBytes raw bytes, except that a single record may reach
// MaxRecordBytes.
//
// # Session
//
// Agent: dial, open the control stream, send Hello(first, next) describing
// the log range it holds. Hub: check the Hello against the certificate
// (CodeUnauthorized), the deny list (CodeRevoked) and the versions
// (CodeBadVersion, the newest common one is chosen); look up M, the highest
// sequence of this agent's WAL epoch it has durably merged (0 for an epoch
// it has never seen: a reinstalled agent starts over without loss). If
// M ≥ next the hub holds records the agent's log does not have
// (CodeEpochConflict). Otherwise it answers Welcome(resume = max(M+1,
// first)); records in (M, first) were dropped by the agent before reaching
// the hub and are counted as a gap.
//
// The agent then sends batches from resume, strictly consecutive, with at
// most MaxInFlight batches not fully acknowledged. The hub merges each
// batch, and only after the merge is durable sends Ack(through): the hub
// holds every record of the epoch up to through, so the agent may trim its
// WAL below it. Acks are cumulative and never go backwards. After any
// disconnect the agent starts a new session; the hub's resume point makes it
// retransmit exactly what was not acknowledged, and the hub's per-agent
// mark drops anything it already holds, so each record is merged once.
//
// Heartbeats flow both ways every HeartbeatMs; a side that hears nothing on
// the control stream for LivenessFactor intervals closes the connection
// with CodeTimeout. QUIC keep-alives and idle timeouts are configured
// separately in quictransport.
//
// # Errors
//
// Codes (Error frames and QUIC application error codes use the same
// values): 0 none, 1 bad version, 2 unauthorized, 3 revoked, 4 epoch
// conflict, 5 malformed frame, 6 internal, 7 shutting down, 8 superseded
// (a newer connection of the same agent replaced this one), 9 timeout.
// A side that fails sends Error if it can, then closes the connection with
// the same code. Any frame that does not decode, arrives out of order or
// breaks the limits is CodeMalformed and ends the session; nothing is
// merged from it.
//
// # Version history
//
//	1  (ALPN edgelog-sync/1) first version: the frames above.
//
// A new protocol version adds a number to SupportedVersions and keeps the
// old session logic; the ALPN changes only if the framing itself changes.
package syncproto

// Package agent is the edge agent: an embedded MQTT broker (mochi) whose
// every accepted publish becomes a record in the local write-ahead log, and
// whose acknowledgements promise durability.
//
// Contract:
//   - Every accepted publish of any QoS is appended to the WAL as
//     record.Encode(&record.Record{...}) (receive time, client ID, topic,
//     QoS, retain, MQTT 5 content type and user properties, payload). Wills
//     sent on behalf of a client are appended too.
//   - Ack after durable: a QoS 1 PUBACK or QoS 2 PUBREC is written only from
//     the WAL's commit callback path, that is after the record's commit
//     (fsynced under wal.FsyncAlways). The ingest hook returns
//     packets.ErrRejectPacket from OnPublish so mochi never acknowledges on
//     its own (for MQTT 3.1.1 clients any other error would still make mochi
//     send a PUBACK). Publishes from one connection are answered in receive
//     order; many may be in flight and share one fsync.
//   - Local subscribers receive a publish only after its commit: the agent
//     re-injects it into the broker (retained messages, wildcards, QoS
//     0/1/2 and no-local as mochi implements them).
//   - QoS 2: the PUBREC state is kept in mochi's per-session inflight map
//     (as mochi does itself), so PUBREL/PUBCOMP, session takeover and
//     resends follow mochi's handling. A QoS 2 publish retransmitted while
//     its first copy is still being committed is not appended twice.
//   - A publish the WAL cannot take (quota with WhenFullBlock, failed disk,
//     shutdown) is never acknowledged: MQTT 5 clients get a PUBACK/PUBREC
//     with reason 0x97 (quota exceeded) or 0x80 (unspecified error); MQTT
//     3.1.1 clients get no ack and are disconnected so that they retransmit.
//   - Per connection at most Config.MaxPending publishes wait for their
//     commit. MQTT 5 clients are told this as Receive Maximum and are
//     disconnected (0x93) when they exceed it; MQTT 3.1.1 clients are
//     slowed down (their connection is not read) until acks drain.
//   - The WAL front is trimmed only below the sequence the hub reported as
//     stored (SetHubAcked), or by WhenFullDropOldest, which drops whole
//     oldest segments and counts the records it dropped.
//   - Shutdown: stop intake, answer what is in flight, fsync the WAL, stop
//     the attached sync, close the WAL.
//
// Ownership: mochi's read goroutine of a connection is the only appender
// for that connection; the WAL's commit goroutine only marks entries done;
// one ack goroutine per connection writes acks and re-injects messages.
package agent

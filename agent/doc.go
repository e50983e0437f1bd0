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
//     (fsynced under wal.FsyncAlways). Publishes from one connection are
//     answered in receive order; many may be in flight and share one fsync,
//     and the success acks of one commit go out in one write.
//   - mochi never acknowledges a client publish itself. The hook takes every
//     publish in OnPacketRead and hands mochi the same packet renamed to a
//     $SYS topic, which mochi drops without an ack. (Returning
//     packets.ErrRejectPacket from OnPublish, the documented way, works too
//     but makes mochi allocate a copy of every packet for a debug log; any
//     other OnPublish error still makes mochi ack MQTT 3.1.1 publishes.)
//     What mochi is left to handle unrenamed is either invalid (refused by
//     mochi) or a QoS 2 retransmission of a stored publish (answered from
//     mochi's inflight map).
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
//   - Devices (Config.Devices): credentials and certificate pins at
//     CONNECT; the publish ACL in the ingest path (refused like a full WAL,
//     reason 0x87); the subscribe ACL at SUBSCRIBE and at every delivery. A
//     registry reload disconnects only removed, disabled or re-keyed
//     devices. Without a registry only clients on loopback addresses.
//   - MQTT sessions live in memory. After a crash, a publish that was
//     stored but not yet acknowledged is stored again if its client
//     retransmits it (QoS 1 is at least once; records carry the packet ID
//     so such copies can be recognised).
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

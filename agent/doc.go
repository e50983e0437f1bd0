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
//     0/1/2 and no-local as mochi implements them). Acks go first: a
//     connection's publishes are delivered after the write of their acks,
//     so fan-out to subscribers does not delay acknowledgements, except
//     that a retained publish is retained (and delivered) before its ack,
//     so that a publisher that saw the ack finds it retained. Deliveries
//     keep each connection's receive order. They lag its acks by at most
//     2·MaxPending publishes; beyond MaxPending waiting, the worker
//     delivers before it answers again (and the connection's reading waits
//     once MaxPending publishes await their answer).
//   - QoS 2: the PUBREC state is kept in mochi's per-session inflight map
//     (as mochi does itself), so PUBREL/PUBCOMP, session takeover and
//     resends follow mochi's handling. A QoS 2 publish retransmitted while
//     its first copy is still being committed is not appended twice.
//   - A publish the WAL cannot take (quota with WhenFullBlock, failed disk,
//     shutdown) is never acknowledged: MQTT 5 clients get a PUBACK/PUBREC
//     with reason 0x97 (quota exceeded) or 0x80 (unspecified error); MQTT
//     3.1.1 clients get no ack and are disconnected so that they retransmit.
//   - After a WAL write or fsync failure the agent is not ready (/readyz
//     503, status "failed") and refuses every publish, before any client is
//     told of the failure. It reopens the WAL in place (wal.Log.Reopen: the
//     records whose commit failed, all refused, are cut; the log is
//     fsynced) at once and then with backoff doubling from 100 ms to 10 s
//     while the disk still fails; once reopened it is ready again. The
//     *wal.Log stays the same, so its readers (the shipper's) resume by
//     themselves; edgelog_agent_wal_reopens_total counts the reopens.
//   - Per connection at most Config.MaxPending publishes wait for their
//     commit. MQTT 5 clients are told this as Receive Maximum and are
//     disconnected (0x93) when they exceed it; MQTT 3.1.1 clients are
//     slowed down (their connection is not read) until acks drain.
//   - Devices (Config.Devices): credentials and certificate pins at
//     CONNECT; the publish ACL in the ingest path (refused like a full WAL,
//     reason 0x87); the subscribe ACL at SUBSCRIBE and at every delivery. A
//     registry reload disconnects only removed, disabled or re-keyed
//     devices. Without a registry only clients on loopback addresses.
//   - Retransmissions are not stored twice. A QoS 1/2 record is
//     unacknowledged from its append until its PUBACK/PUBREC has been
//     written to the client's connection; a connection that is gone first
//     leaves it unacknowledged. Records found at start in the WAL's tail
//     count as unacknowledged (the previous process's acks are unknown;
//     it may have been killed between commit and ack). A PUBLISH with DUP=1
//     and QoS 1 or 2 is answered without being stored iff the most recent
//     record of its client ID with its packet ID has the same topic, QoS,
//     retain flag and payload (a keyed 64-bit hash) and is unacknowledged.
//     The answer (PUBACK; for QoS 2 a PUBREC entered in mochi's inflight
//     map) goes out once that record is durable, in order with the
//     connection's other answers; if its commit fails, the retransmission
//     is refused like it. Counted in edgelog_agent_duplicate_publishes_total.
//   - Once a record's ack is being written, a PUBLISH with its packet ID is
//     a new publication (MQTT 3.1.1 and 5, section 4.3.2) and is stored, DUP
//     or not. So is a DUP whose content differs. A client that connected
//     with a clean session (clean start) is held to the same rule: MQTT says
//     it retransmits nothing, but common clients (paho among them) resend
//     the publishes that were in flight when the connection was lost, with
//     DUP=1; storing those again would duplicate them at the hub. A clean
//     client's new publications carry DUP=0 and are always stored.
//   - Bounds: records of live connections awaiting their ack (at most
//     MaxPending each), and up to 65,536 durable unacknowledged ones (from
//     closed connections and the start-up scan), the oldest forgotten
//     first. The start-up scan reads the last 65,536 records, from the
//     start of the second-to-last segment at the earliest (at most
//     MaxDisk/8 bytes): a record still awaiting its ack at a crash was
//     committed moments before it, so it is in the last segment, or in the
//     one before after a rotation. The hub's acknowledged sequence is no
//     bound: the shipper reads a record as soon as it is durable, so the
//     hub may hold a record its device has not been acknowledged for; the
//     scan runs before the saved hub position trims the restarted log.
//   - Residual risks. After a restart the previous process's acks are
//     unknown: a device that received a record's PUBACK, then sent a new
//     message under the same packet ID with identical topic, QoS, retain
//     flag and payload, lost that transmission and retransmitted it with
//     DUP=1 to the restarted agent, gets it taken for the old record
//     (acknowledged, its content stored once, not twice). A retransmission
//     of a record forgotten under the bounds, or one older than the tail
//     scanned after a restart (a device that stayed away that long), or
//     one whose segment was deleted before a crash because the hub held
//     everything up to the next segment (a rotation and the hub's ack past
//     it, both between the record's commit and the crash), or one whose
//     segment went while the device stayed away across a second restart
//     (the first restart remembers it only in memory), is stored again
//     (at least once, never lost). An ack written to the socket counts as sent even
//     if the connection then loses it; the retransmission is then a new
//     publication, as MQTT specifies, and is stored again.
//   - QoS 2 within one process also relies on mochi: a PUBLISH retransmitted
//     after its PUBREC is answered from the session's inflight map, which a
//     resumed session inherits; sessions live in memory, so after a restart
//     the rule above answers it instead.
//   - The WAL front is trimmed only below the sequence the hub reported as
//     stored (SetHubAcked), or by WhenFullDropOldest, which drops whole
//     oldest segments and counts the records it dropped that the hub did
//     not hold. Dropped segment files are deleted, so dropped records stay
//     gone after a restart.
//   - The hub's acknowledged sequence survives restarts: it is saved with
//     the WAL's epoch in DataDir/hub-acked.json (at most once a second, by
//     rename, without fsync) and restored at start, before the shipper's
//     first contact, so the WAL is trimmed below it again (a trim inside a
//     segment leaves the records on disk) and lag and drops are counted
//     from it. A stale or lost file only means less trimming until the hub
//     is reached; a file saved for another epoch (a new WAL) is ignored.
//   - Shutdown: stop intake, answer what is in flight, fsync the WAL, stop
//     the attached sync (and WAL recovery), close the WAL.
//   - Memory per connection. mochi gives every connection a reading and a
//     writing goroutine (about 16 KiB and 4 KiB of stack: the reader's
//     frames alone exceed 4 KiB while it waits), a read buffer
//     (Config.ReadBuffer, 2 KiB) and an outbound queue of
//     Config.OutboundQueue packet slots (1,024: 8 KiB) allocated up front.
//     The agent adds no goroutine while a connection is idle: its worker
//     runs from the publish that fills its empty queue until the queue has
//     stayed empty for 100-200 ms. Sockets are read up to 16 KiB at a
//     time into a buffer borrowed only once bytes have arrived and returned
//     when they are read (TCP and TLS listeners), so a pipelining client's
//     burst takes one read system call. The ingest path passes mochi's 800-byte
//     packets by pointer so that storing a publish stays within the reading
//     goroutine's 16 KiB stack.
//   - Local subscribers that fall behind: each client's outbound queue
//     holds Config.OutboundQueue packets; what does not fit is dropped for
//     that subscriber by mochi and counted in
//     edgelog_agent_local_dropped_total. A subscriber that stops reading
//     altogether fills its socket; mochi then holds its client lock in
//     the blocked write, and delivering a QoS 1/2 message to it takes that
//     lock, so it would hold up the acknowledgements of every publisher it
//     matches. The TCP/TLS connections therefore close once a write has
//     taken no bytes for Config.WriteTimeout (10 s by default; counted in
//     edgelog_agent_write_timeouts_total), which bounds that hold-up.
//     mochi's keep-alive deadline (set before every packet it reads) only
//     sets the read deadline, so a stalled subscriber that keeps sending
//     is cut off all the same. A connection must complete its TLS
//     handshake and CONNECT within Config.ConnectTimeout (20 s). (The
//     WebSocket listener is mochi's and has neither timeout.)
//   - Deliveries are ordered per connection. A device that reconnects
//     while its previous connection's worker still delivers acknowledged
//     publishes may have its new publishes delivered before those. At
//     shutdown the agent waits for every publish to be answered, not for
//     the local deliveries behind the acks: local subscribers may miss
//     the last acknowledged publishes (they are in the WAL and reach the
//     hub).
//
// Ownership: mochi's read goroutine of a connection is the only appender
// for that connection; the WAL's commit goroutine only marks entries done;
// the connection's worker (at most one at a time, conn.running) writes acks
// and re-injects messages, and settles the records it acknowledges in the
// client's clientState (clientState.mu), resolving retransmissions queued
// on other connections (conn.mu, never taken while holding
// clientState.mu).
package agent

// Package kafka serves a hub.Broker over the Kafka wire protocol, so any
// Kafka client reads (and writes) hub topics. Requests and responses are
// encoded with franz-go's kmsg; one file per request kind.
//
// # Contract
//
//   - One broker (Config.NodeID) leads every partition and coordinates
//     every group. Metadata advertises the address the client connected to
//     unless Config.Advertise says otherwise.
//   - ApiVersions advertises exactly the versions implemented (apis.go),
//     all below the versions that identify topics by ID. An ApiVersions
//     request of a newer version gets the standard downgrade answer (a v0
//     response with UNSUPPORTED_VERSION and the supported ranges).
//   - Any other unknown API key or version gets its correlation ID with
//     UNSUPPORTED_VERSION and the connection is closed. A malformed request,
//     or a frame over the limit (MaxRequestBytes for Produce, MaxOtherBytes
//     otherwise, chosen from the API key before the body is read), closes
//     that connection only. Frame memory grows with the bytes received, not
//     the size declared, and Produce requests are checked for sane array
//     counts before they are decoded.
//   - Per connection, requests are decoded and started in order and
//     answered in order (requestors may pipeline); slow parts (the fsync
//     before a Produce answer, a Fetch long poll, a rebalance) run on the
//     connection's writer goroutine, at most MaxInflight requests ahead.
//   - Produce with acks 1 or -1 is answered once the records are durable
//     under the broker's fsync policy (one replica: the two are the same);
//     acks 0 gets no answer. Idempotent producers (InitProducerID) are
//     deduplicated by sequence; transactions are not supported.
//   - Fetch serves stored record batches byte for byte (read_uncommitted;
//     there are no transactions), honouring MaxBytes, per-partition max
//     bytes, MinBytes and MaxWait (long poll, capped by MaxFetchWait). The
//     first partition with data returns at least one whole batch. Fetch
//     sessions are not kept: the answer's session ID 0 tells clients to send
//     full fetches.
//   - With Config.Users, every request but ApiVersions, SaslHandshake and
//     SaslAuthenticate needs SASL/PLAIN or SCRAM-SHA-256 first; PLAIN is
//     offered only over TLS (or with AllowPlaintextSASL). After a v1
//     handshake the tokens travel in SaslAuthenticate; after a v0 one, as
//     bare length-prefixed tokens (at most 64 KiB). A failed
//     authentication is answered (v1) and the connection closed.
package kafka

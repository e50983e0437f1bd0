// Package quictransport binds the sync protocol to QUIC (quic-go). It is the
// only package of edgelog that imports quic-go; the shipper and the hub's
// ingest see connections and streams through the types here.
//
// Contract:
//   - ALPN is ALPN ("edgelog-sync/1"); TLS 1.3 only; the TLS configuration
//     comes from internal/pki (client certificates required and verified by
//     the hub).
//   - Dialer keeps a TLS session cache, so a reconnecting agent resumes its
//     TLS session; with Config.ZeroRTT (off by default: a data race in
//     quic-go, upstream issue 4303) its first stream bytes (the Hello)
//     travel as 0-RTT data, otherwise Dial waits for the handshake. Listener
//     accepts connections before their handshake completes so the Hello can
//     be read early, but Authenticate must succeed (handshake complete,
//     client certificate verified, identity not denied) before anything is
//     answered or any data stream is accepted.
//   - A hub that restarted no longer knows old session tickets and rejects
//     their 0-RTT data: stream calls return Err0RTTRejected, and
//     Conn.NextConnection completes the full handshake so the Hello can be
//     resent on the same connection.
//   - The hub's stateless reset key is derived from its TLS private key
//     (unless configured), so a restarted hub answers packets of its
//     predecessor's connections with a stateless reset and agents reconnect
//     at once instead of waiting for a timeout.
//   - The control stream is bidirectional, opened by the agent, and has the
//     highest send priority; data streams are unidirectional, agent to hub.
//   - Connection migration is left enabled: the hub follows an agent whose
//     address changes (NAT rebinding, new interface) without a new
//     handshake.
//   - Closing carries a syncproto.Code as the QUIC application error code;
//     errors from streams and connections are mapped back to *syncproto.Error
//     (Remote set when the peer closed), so callers classify with errors.Is
//     against syncproto's sentinels.
package quictransport

// Package ingest is the hub's endpoint for agents: a QUIC listener
// (syncproto/quictransport) that authenticates each agent by its client
// certificate, runs the hub side of the sync protocol (syncproto.HubSession)
// and merges every batch into the broker exactly once (hub.Broker.Merge's
// two halves, StartMerge and PendingMerge.Wait).
//
// Contract:
//   - An agent is served only after its TLS handshake completed with a
//     certificate from the hub's CA, its ID (the certificate's common name)
//     matches its Hello, and it is not on the deny list. A Hello may arrive
//     as 0-RTT data; nothing is answered and no data stream is read before
//     the handshake completes.
//   - The Welcome resumes from hub.Broker.AgentResume for the agent's WAL
//     epoch, so a new epoch (a reinstalled agent) starts from its first
//     record and a known one from the record after the last merged.
//   - An Ack is sent only after the merge it covers returned: the hub
//     durably holds every record up to it. Batches are merged in order,
//     several in flight (bounded by the session's MaxInFlight).
//   - One session per agent: a new connection from the same agent
//     supersedes the old one (CodeSuperseded), which finishes its merges
//     before the new session computes its resume point.
//   - Revoking an agent (DenyList.Set, e.g. on a deny file reload) closes its
//     live session with CodeRevoked; the Server installs the deny list's
//     change hook.
//   - Bounded per connection: one control and one data stream, at most
//     MaxInFlight decoded batches, frames capped by the Limits. Each session
//     has its own goroutines; a slow agent stalls only itself.
//   - Shutdown (Run's context ends): stop accepting, stop reading batches,
//     wait up to DrainTimeout for merges in flight and acknowledge them,
//     then close every connection with CodeShuttingDown.
package ingest

// Package netchaos is a UDP relay that impairs the traffic it forwards, for
// tests of the sync protocol over bad links.
//
// A Relay listens on a local address and forwards every datagram to one
// target; each client source address gets its own upstream socket, so the
// target sees one peer per client, as behind a NAT. Each direction (Up:
// client → target, Down: target → client) has an Impairment: random loss,
// duplication, delay with jitter (which reorders), extra reordering, and a
// bandwidth cap with a bounded queue (drop-tail beyond it). On demand the
// link can black out (both directions drop everything, including what is
// queued) for a while or until restored, flap between up and down, and
// rebind: every client gets a new upstream source port, which the target
// sees as the client migrating (a NAT rebinding).
//
// Randomness comes from Config.Seed, so a test run can be repeated; timing
// still depends on the scheduler. Queues are bounded; a closed Relay stops
// all its goroutines.
package netchaos

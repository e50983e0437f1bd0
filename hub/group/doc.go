// Package group is the hub's consumer-group coordinator for Kafka's classic
// group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup). Members
// choose the assignor; the coordinator only picks the protocol all members
// support, elects a leader and hands the leader's assignment to everyone.
// Committed offsets are the broker's (hub.Broker.CommitOffsets), so they
// are durable; membership is kept in memory, and after a hub restart
// members simply rejoin.
//
// # States
//
//	Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance
//	  ▲                    ▲                                            │ leader syncs
//	  └──last member goes──┴────── join, leave, session expiry ◀── Stable
//
// A rebalance completes when every current member has rejoined or the
// rebalance timeout passes (members that did not rejoin are removed). The
// generation increments each time. Heartbeats of members of the current
// generation return REBALANCE_IN_PROGRESS while one is being prepared, which
// tells them to rejoin. A member whose heartbeats stop for its session
// timeout is removed.
//
// All state is protected by Coordinator.mu; blocked Join and Sync calls wait
// on per-member channels and never hold it.
package group

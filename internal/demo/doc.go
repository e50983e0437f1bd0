// Package demo is the accounting and the terminal view of `edgelog demo`,
// which runs a hub, an agent and a simulated fleet in one process.
//
// Contract:
//   - Ledger matches what the fleet saw acknowledged with what a consumer
//     read at the hub, per device, by the sequence number each simulated
//     payload carries. It never claims a message is at the hub before a
//     record carrying it was consumed, counts every record seen twice as a
//     duplicate, and keeps per device only the contiguous prefix of
//     sequences plus the few above it (memory does not grow with the run
//     while devices publish in order).
//   - A Mark is the set of messages acknowledged at one moment; Missing says
//     how many of them have not reached the hub yet, which is how the demo
//     shows that a backlog built up during an outage drained with no loss.
//   - Screen renders a Frame as at most ScreenLines lines of at most
//     ScreenWidth columns (an 80×24 terminal); Line renders it as one plain
//     progress line for output that is not a terminal. Both are pure.
//
// Ledger is safe for concurrent use (its state is protected by its mutex);
// Frame is a value owned by whoever built it.
package demo

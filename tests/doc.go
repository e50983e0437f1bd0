// Package tests is edgelog's black-box reliability suite: Go tests that run
// the real edgelog binary (a hub, agents) on loopback, drive real MQTT
// devices and Kafka consumers against it, break things — SIGKILL at random
// instants, simulated power cuts, full disks, lossy and flapping links
// through an impairing relay, hub restarts under hundreds of agents,
// malformed MQTT and Kafka bytes, bad credentials — and check the promises
// a user relies on: every publish a device saw acknowledged is at the hub
// exactly once, in per-device order in one partition, and the processes are
// healthy and keep working afterwards.
//
// Modes: plain `go test ./tests/` (and `make test`) runs the short form of
// every scenario; EDGELOG_SOAK=1 (`make soak`) runs the long forms (more
// crash rounds, minute-long blackouts, more records). EDGELOG_SEED fixes the
// random choices of a run (each test logs the seed it used). Scenarios that
// need privileges (mounting a small tmpfs) skip cleanly without them.
//
// docs/RELIABILITY.md maps each guarantee to the test that checks it.
package tests

// Package testkit is the machinery of edgelog's black-box tests: it builds
// the edgelog binary once, starts and kills real hub and agent processes on
// loopback, drives real MQTT devices (paho) that record exactly which
// publishes were acknowledged, reads hub topics with a real Kafka client
// (kgo), and checks the promises: every acknowledged publish at the hub
// exactly once, in per-device order.
//
// Contract: everything a test starts is stopped by t.Cleanup; process output
// goes to a log file whose tail is printed when the test fails. Nothing here
// asserts timing: waits poll with generous deadlines.
package testkit

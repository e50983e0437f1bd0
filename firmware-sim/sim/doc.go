// Package sim simulates a fleet of MQTT devices that behave like real
// firmware, for load, soak and fault tests of an edgelog agent (or any MQTT
// broker). The firmware-sim command and `edgelog demo` both run it.
//
// Each device is its own paho client with its own client ID and TCP
// connection. It samples readings at Config.Rate (jittered) from its
// streams in turn — env (temperature/humidity/pressure random walks with a
// daily cycle), counter (Poisson pulses), gps (a vehicle track), log (lines
// with levels) — and publishes them to telemetry/ID/STREAM or logs/ID as
// JSON, CBOR or a compact binary format, each payload carrying the device
// ID (JSON/CBOR), a per-device sequence number and the device's (drifting,
// offset) clock: see Header and DecodeHeader.
//
// Firmware behaviour: readings wait in a bounded on-device queue while the
// device is disconnected, asleep or at its in-flight window; a full queue
// drops by policy (oldest or newest). Connects retry with jittered
// exponential backoff. Duty-cycled devices sleep (disconnecting cleanly,
// still sampling) and burst the queue on wake. Chaos mode closes the TCP
// connection at random (a Poisson process per device). Bad actors each
// repeat one misbehaviour — wrong password, oversized payload, wildcard
// topic, publishing outside their ACL — and count what the broker refused.
//
// Contract:
//   - Acked is exact: a QoS 1/2 message counts once, when paho completes
//     its token without error, which happens only on PUBACK (QoS 1) or
//     PUBCOMP (QoS 2). Every acknowledged message was therefore received by
//     the broker; Config.OnAck reports each one (client ID, topic, seq).
//   - A QoS 1/2 message that was not acknowledged (connection lost) goes
//     back to the head of the queue and is sent again with the same
//     sequence number: delivery is at least once, and the receiver can
//     recognise a retry by (client ID, seq).
//   - Every generated reading is accounted for exactly once: Generated =
//     Acked + DeliveredQoS0 + LostQoS0 + Dropped + Unsent at the end of Run.
//   - Run stops sampling after Duration, then keeps publishing until the
//     queues are drained or DrainTimeout passes; cancelling ctx stops it at
//     once (what is left counts as Unsent).
//   - Each device's state is owned by its goroutine; counters are atomics
//     read by Stats at any time.
package sim

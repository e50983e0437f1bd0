// Package loadgen drives MQTT brokers with pipelined QoS 1 publishes from
// many clients at once, as fast as acknowledgements allow or paced, and
// measures acknowledged messages per second and publish→ack latency.
//
// Every client connects before any publishes, so connection set-up is not
// timed; a client keeps Inflight publishes outstanding and sends PerClient
// in all. Payloads are mqttc.Payload stamps, so consumers can identify each
// message and its send time.
package loadgen

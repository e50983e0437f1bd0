// Package mqttc is the benchmark suite's MQTT 3.1.1 client: a minimal one
// over plain TCP, built on mochi's packet codec, so that it costs the
// machine under test as little CPU as possible and every broker sees
// exactly the same bytes.
//
// A Conn is used by one goroutine at a time: either a pipelined publisher
// (Pipeline), a consumer (Consume) or single synchronous publishes
// (PublishSync). Payloads made by Payload carry the publishing client, its
// sequence number and the send time, so that a consumer can tell exactly
// which acknowledged messages arrived and how long each took.
package mqttc

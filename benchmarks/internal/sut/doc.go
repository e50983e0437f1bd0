// Package sut starts and stops the systems under test of the benchmark
// suite as real processes on loopback: the edgelog agent and hub, Mosquitto
// and the NATS server (with MQTT and JetStream, optionally as a leaf node or
// a leaf-node hub with a JetStream domain; NATSRequest and JetStreamCall
// speak just enough of the NATS client protocol to set up streams). A
// System keeps its data
// directory and ports across Kill and Start, so a crash and restart is a
// restart of the same installation.
//
// Contract: every process a System starts is owned by it and ended by Kill
// or Stop; output goes to DIR/<name>.log. Nothing here assumes a broker is
// installed: Available reports whether its binary is on PATH.
package sut

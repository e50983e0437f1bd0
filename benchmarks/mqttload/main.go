// Command mqttload drives an MQTT broker with pipelined QoS 1 (or 0/2)
// publishes and reports throughput and publish→ack latency. It speaks MQTT
// 3.1.1 over plain TCP with a minimal client (mochi's packet codec), so the
// generator costs the broker's machine as little CPU as possible and every
// broker under test sees exactly the same load.
//
// Each client connects, then all start at once; a client keeps -inflight
// publishes outstanding (QoS 1: until PUBACK; QoS 2: until PUBCOMP) and
// sends -messages in all. The rate is acknowledged messages over the time
// from the first publish to the last ack.
//
//	mqttload -addr 127.0.0.1:1883 -clients 10 -messages 20000 -inflight 100 -size 200
//
// With -compare it starts the brokers itself, one at a time with a fresh
// data directory per run, and prints a Markdown table: the edgelog agent
// (-edgelog BINARY, --fsync always), Mosquitto with persistence and NATS
// with MQTT and JetStream (each skipped when not installed).
//
//	mqttload -compare -edgelog ./edgelog -rounds 3
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"
)

type options struct {
	addr     string
	clients  int
	messages int
	inflight int
	size     int
	qos      int
	label    string
	jsonOut  bool
	timeout  time.Duration
}

func main() {
	var o options
	var compare bool
	var cmp compareOptions
	flag.StringVar(&o.addr, "addr", "127.0.0.1:1883", "broker address")
	flag.IntVar(&o.clients, "clients", 10, "concurrent clients")
	flag.IntVar(&o.messages, "messages", 20000, "messages per client")
	flag.IntVar(&o.inflight, "inflight", 100, "unacknowledged publishes per client")
	flag.IntVar(&o.size, "size", 200, "payload bytes")
	flag.IntVar(&o.qos, "qos", 1, "QoS of every publish (0, 1 or 2)")
	flag.StringVar(&o.label, "label", "", "label printed with the result")
	flag.BoolVar(&o.jsonOut, "json", false, "print the result as one JSON line")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.BoolVar(&compare, "compare", false, "start edgelog, Mosquitto and NATS in turn and compare them")
	flag.StringVar(&cmp.edgelog, "edgelog", "./edgelog", "edgelog binary (with -compare)")
	flag.IntVar(&cmp.rounds, "rounds", 3, "runs of every broker and load (with -compare); medians are reported")
	flag.Parse()
	if o.clients < 1 || o.messages < 1 || o.inflight < 1 || o.inflight > 65535 || o.qos < 0 || o.qos > 2 || cmp.rounds < 1 {
		fmt.Fprintln(os.Stderr, "mqttload: bad flags")
		os.Exit(2)
	}
	if compare {
		if err := runCompare(o, cmp); err != nil {
			fmt.Fprintln(os.Stderr, "mqttload:", err)
			os.Exit(1)
		}
		return
	}
	res, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mqttload:", err)
		os.Exit(1)
	}
	if o.jsonOut {
		_ = json.NewEncoder(os.Stdout).Encode(res)
	} else {
		fmt.Println(res)
	}
	if res.Errors > 0 {
		os.Exit(1)
	}
}

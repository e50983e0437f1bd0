package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/internal/cli"
)

const demoSynopsis = `edgelog demo [flags]

Runs a hub, an agent and a simulated fleet of MQTT devices in one process,
with temporary data directories (removed on exit unless --keep), on
loopback ports that do not collide with a real hub or agent. The devices
publish at QoS 1 to the agent, which acknowledges each message once it is
fsynced in its write-ahead log and replicates the log over QUIC to the hub;
the demo reads everything back at the hub over the Kafka protocol and
checks that every acknowledged message arrived exactly once.

Every --outage-every the demo cuts the agent's uplink for --outage-length
(and on the key u when stdin is a terminal): the agent keeps acknowledging,
the backlog grows in its WAL, and drains when the link returns.

Stop with Ctrl-C (or q): the fleet stops, the backlog drains to the hub,
the agent and hub shut down in order, and a summary says how many messages
were acknowledged, how many reached the hub, lost and duplicated. The exit
code is 0 only if nothing was lost or duplicated.`

// demoOptions are the checked flags of `edgelog demo`.
type demoOptions struct {
	devices, partitions         int
	rate                        float64
	duration                    time.Duration
	outageEvery, outageLength   time.Duration
	keep                        bool
	listenMQTT, agentHTTP       string
	listenKafka, hubHTTP, lSync string
	logLevel                    string
}

func demoCommand() cli.Command {
	return cli.Command{Name: "demo", Summary: "hub + agent + simulated devices in one process, with live progress", Run: runDemo}
}

func runDemo(ctx context.Context, args []string, env *cli.Env) int {
	fs := cli.NewFlagSet("demo", demoSynopsis, env)
	var o demoOptions
	fs.IntVar(&o.devices, "devices", 20, "simulated devices, each its own MQTT connection")
	fs.Float64Var(&o.rate, "rate", 10, "messages per second per device")
	fs.DurationVar(&o.duration, "duration", 0, "how long the devices publish (0: until Ctrl-C)")
	fs.DurationVar(&o.outageEvery, "outage-every", 20*time.Second, "cut the uplink this often, start to start (0: only on the key u)")
	fs.DurationVar(&o.outageLength, "outage-length", 10*time.Second, "how long each uplink cut lasts")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary data directories (hub, agent, log) on exit")
	fs.IntVar(&o.partitions, "partitions", hub.DefaultPartitions, "partitions of each hub topic")
	fs.StringVar(&o.listenMQTT, "listen-mqtt", "127.0.0.1:11883", "the agent's MQTT listener (the devices connect here)")
	fs.StringVar(&o.agentHTTP, "agent-http", "127.0.0.1:18081", "the agent's HTTP listener (/v1/status, /metrics)")
	fs.StringVar(&o.listenKafka, "listen-kafka", "127.0.0.1:19092", "the hub's Kafka-protocol listener (consume here)")
	fs.StringVar(&o.hubHTTP, "hub-http", "127.0.0.1:18080", "the hub's HTTP listener (/v1/topics, /v1/agents, /metrics)")
	fs.StringVar(&o.lSync, "listen-sync", "127.0.0.1:17070", "the hub's QUIC endpoint (UDP); the agent reaches it through a relay the demo can cut")
	fs.StringVar(&o.logLevel, "log-level", "info", "level of the hub's and agent's log (written to demo.log in the data directory)")
	if code, ok := cli.ReportParse(cli.Parse(fs, args), env, "demo"); !ok {
		return code
	}
	if err := o.check(fs.NArg(), fs.Arg(0)); err != nil {
		fmt.Fprintf(env.Stderr, "edgelog demo: %v\n", err)
		return cli.ExitUsage
	}
	return o.run(ctx, env)
}

// check validates the flags; each error names its key.
func (o *demoOptions) check(nargs int, arg string) error {
	switch {
	case nargs > 0:
		return cli.Usagef("", "unexpected argument %q", arg)
	case o.devices < 1 || o.devices > 10000:
		return cli.Usagef("devices", "want 1..10000, got %d", o.devices)
	case !(o.rate > 0 && o.rate <= 1000):
		return cli.Usagef("rate", "want a rate in (0, 1000] messages per second per device, got %v", o.rate)
	case o.duration < 0:
		return cli.Usagef("duration", "must not be negative")
	case o.outageEvery < 0:
		return cli.Usagef("outage-every", "must not be negative")
	case o.outageLength <= 0:
		return cli.Usagef("outage-length", "must be positive")
	case o.outageEvery > 0 && o.outageLength >= o.outageEvery:
		return cli.Usagef("outage-length", "%v leaves no uplink between outages every %v", o.outageLength, o.outageEvery)
	case o.partitions < 1 || o.partitions > 10000:
		return cli.Usagef("partitions", "want 1..10000, got %d", o.partitions)
	}
	for key, addr := range map[string]string{"listen-mqtt": o.listenMQTT, "agent-http": o.agentHTTP,
		"listen-kafka": o.listenKafka, "hub-http": o.hubHTTP, "listen-sync": o.lSync} {
		if err := checkListenAddr(addr, false); err != nil {
			return cli.Usagef(key, "%v", err)
		}
	}
	if _, err := newLogger(&cli.Env{}, o.logLevel, "text"); err != nil {
		return err
	}
	return nil
}

// dialable turns a bound listener address into one a local client can
// dial: an unspecified host (":1883", "[::]:1883") becomes loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/hub/store"
	"github.com/edgelog/edgelog/internal/cli"
)

const hubSynopsis = `edgelog hub [flags]
       edgelog hub credentials --data DIR --agent ID --out FILE

Runs a hub: agents sync their logs to it over QUIC (--listen-sync), it
merges them exactly once into partitioned topics, and any Kafka client
reads them (--listen-kafka): list topics, fetch, list offsets, consume in
groups with committed offsets. HTTP (--listen-http): /healthz, /readyz,
/metrics, /v1/status, /v1/topics, /v1/agents.

Per-topic settings and routes take lists (comma-separated on the command
line, or a YAML list in --config), e.g.
  --topic-partitions alerts=2,telemetry=16
  --topic-retention alerts=720h,telemetry=-1
  --route 'sensors/+/fire=fire,legacy/#=telemetry'
SIGINT/SIGTERM: stop intake, finish in-flight merges and writes, fsync, exit 0.`

// hubFlags are the flags of `edgelog hub`.
type hubFlags struct {
	data, listenSync, listenKafka, listenHTTP string
	fsync, fsyncInterval, retention           string
	retentionBytes, retentionCheck            string
	segmentAge, topicPartitions               string
	topicRetention, routes, advertise         string
	kafkaCert, kafkaKey, kafkaUsers, deny     string
	logLevel, logFormat                       string
	segmentBytes                              cli.Bytes
	partitions                                int
	autoCreate                                bool
}

func hubCommand() cli.Command {
	return cli.Command{Name: "hub", Summary: "runs a hub broker (hub credentials: mints agent credentials)", Run: runHub}
}

func runHub(ctx context.Context, args []string, env *cli.Env) int {
	if len(args) > 0 && args[0] == "credentials" {
		return runHubCredentials(ctx, args[1:], env)
	}
	fs := cli.NewFlagSet("hub", hubSynopsis, env)
	f := hubFlags{segmentBytes: hub.DefaultSegmentBytes}
	fs.StringVar(&f.data, "data", hub.DefaultDir, "directory for all hub state")
	fs.StringVar(&f.listenSync, "listen-sync", ":7070", "UDP address of the QUIC endpoint for agents (off: none)")
	fs.StringVar(&f.listenKafka, "listen-kafka", ":9092", "Kafka-protocol listener for consumers")
	fs.StringVar(&f.listenHTTP, "listen-http", ":8080", "HTTP listener: /healthz, /readyz, /metrics, /v1/...")
	fs.IntVar(&f.partitions, "partitions", hub.DefaultPartitions, "partitions of a newly created topic")
	fs.StringVar(&f.fsync, "fsync", "always", "always: acknowledge writes only after fsync (group commit); interval; never")
	fs.StringVar(&f.fsyncInterval, "fsync-interval", "50ms", "background fsync period with --fsync interval")
	fs.StringVar(&f.retention, "retention", "168h", "default topic retention by age (a duration; -1 keeps forever)")
	fs.StringVar(&f.retentionBytes, "retention-bytes", "-1", "default per-partition retention by size (e.g. 10GiB; -1: no limit)")
	fs.StringVar(&f.retentionCheck, "retention-check", "1m", "how often retention runs")
	fs.Var(&f.segmentBytes, "segment-bytes", "roll partition segments past this size (retention deletes whole segments)")
	fs.StringVar(&f.segmentAge, "segment-age", "1h", "roll partition segments older than this")
	fs.StringVar(&f.topicPartitions, "topic-partitions", "", "per-topic partitions: NAME=N,...")
	fs.StringVar(&f.topicRetention, "topic-retention", "", "per-topic retention by age: NAME=DURATION,... (-1: forever)")
	fs.StringVar(&f.routes, "route", "", "MQTT topic filter to hub topic: FILTER=TOPIC,... (first match wins; default: first topic level)")
	fs.BoolVar(&f.autoCreate, "auto-create-topics", true, "let Kafka Metadata/Produce requests create unknown topics")
	fs.StringVar(&f.advertise, "advertise", "", "host:port for Kafka clients to reach this hub (default: the address each client connected to)")
	fs.StringVar(&f.kafkaCert, "kafka-tls-cert", "", "PEM certificate: makes the Kafka listener TLS-only")
	fs.StringVar(&f.kafkaKey, "kafka-tls-key", "", "PEM private key of --kafka-tls-cert")
	fs.StringVar(&f.kafkaUsers, "kafka-users", "", "file of USER:PASSWORD lines: requires SASL (SCRAM-SHA-256, and PLAIN over TLS) from Kafka clients")
	fs.StringVar(&f.deny, "deny", "", "file of revoked agent IDs (or serial:HEX), one per line, reloaded on change")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	if code, ok := cli.ReportParse(cli.Parse(fs, args), env, "hub"); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return hubUsage(env, cli.Usagef("", "unexpected argument %q", fs.Arg(0)))
	}
	logger, err := newLogger(env, f.logLevel, f.logFormat)
	if err != nil {
		return hubUsage(env, err)
	}
	opts, err := f.options(logger)
	if err != nil {
		return hubUsage(env, err)
	}
	ctx, stop := cli.SignalContext(ctx)
	defer stop()
	if err := runHubServices(ctx, opts, nil); err != nil {
		fmt.Fprintf(env.Stderr, "edgelog hub: %v\n", err)
		return cli.ExitFailure
	}
	return cli.ExitOK
}

func hubUsage(env *cli.Env, err error) int {
	fmt.Fprintf(env.Stderr, "edgelog hub: %v\n", err)
	return cli.ExitUsage
}

// newLogger builds the command's logger from --log-level and --log-format.
func newLogger(env *cli.Env, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, cli.Usagef("log-level", "want debug, info, warn or error, got %q", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(env.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(env.Stderr, opts)), nil
	}
	return nil, cli.Usagef("log-format", "want text or json, got %q", format)
}

// options checks every flag against its key and builds the hub's settings,
// so that a bad value is reported before anything starts.
func (f *hubFlags) options(logger *slog.Logger) (hubOptions, error) {
	o := hubOptions{
		listenKafka: f.listenKafka, listenHTTP: f.listenHTTP, listenSync: f.listenSync,
		advertise: f.advertise, deny: f.deny, logger: logger,
	}
	c := &o.hub
	c.Dir, c.Partitions, c.SegmentBytes, c.DisableAutoCreate, c.Logger = f.data, f.partitions, int64(f.segmentBytes), !f.autoCreate, logger
	if f.data == "" {
		return o, cli.Usagef("data", "must not be empty")
	}
	if f.partitions < 1 || f.partitions > 10000 {
		return o, cli.Usagef("partitions", "want 1..10000, got %d", f.partitions)
	}
	switch f.fsync {
	case "always":
		c.Fsync = store.SyncAlways
	case "interval":
		c.Fsync = store.SyncInterval
	case "never":
		c.Fsync = store.SyncNever
	default:
		return o, cli.Usagef("fsync", "want always, interval or never, got %q", f.fsync)
	}
	var err error
	for _, d := range []struct {
		key, val string
		dst      *time.Duration
	}{{"fsync-interval", f.fsyncInterval, &c.FsyncInterval}, {"retention-check", f.retentionCheck, &c.RetentionCheck}, {"segment-age", f.segmentAge, &c.SegmentAge}} {
		if *d.dst, err = time.ParseDuration(d.val); err != nil || *d.dst <= 0 {
			return o, cli.Usagef(d.key, "want a positive duration such as 50ms or 1h, got %q", d.val)
		}
	}
	if c.RetentionAge, err = parseRetention(f.retention); err != nil {
		return o, cli.Usagef("retention", "%v", err)
	}
	if c.RetentionBytes, err = parseRetentionBytes(f.retentionBytes); err != nil {
		return o, cli.Usagef("retention-bytes", "%v", err)
	}
	if f.segmentBytes < 1024 {
		return o, cli.Usagef("segment-bytes", "at least 1KiB, got %s", f.segmentBytes.String())
	}
	if c.Topics, err = topicSettings(f.topicPartitions, f.topicRetention); err != nil {
		return o, err
	}
	if c.Routes, err = parseRoutes(f.routes); err != nil {
		return o, cli.Usagef("route", "%v", err)
	}
	for key, addr := range map[string]string{"listen-kafka": f.listenKafka, "listen-http": f.listenHTTP} {
		if err := checkListenAddr(addr, false); err != nil {
			return o, cli.Usagef(key, "%v", err)
		}
	}
	if f.listenSync != "off" {
		if err := checkListenAddr(f.listenSync, false); err != nil {
			return o, cli.Usagef("listen-sync", "%v (or off)", err)
		}
		c.ListenSync = f.listenSync
	}
	if f.advertise != "" {
		if err := checkListenAddr(f.advertise, false); err != nil {
			return o, cli.Usagef("advertise", "%v", err)
		}
	}
	if err := f.kafkaSecurity(&o); err != nil {
		return o, err
	}
	if err := c.Check(); err != nil {
		return o, cli.Usagef("config", "%v", err)
	}
	return o, nil
}

// parseRetention reads a retention age: a Go duration, or -1 for forever.
func parseRetention(s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "-1" {
		return -1, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a positive duration such as 168h, or -1 to keep forever; got %q", s)
	}
	return d, nil
}

// parseRetentionBytes reads a size, or -1 for no size limit.
func parseRetentionBytes(s string) (int64, error) {
	if strings.TrimSpace(s) == "-1" {
		return -1, nil
	}
	n, err := cli.ParseBytes(s)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("want a size such as 10GiB, or -1 for no limit; got %q", s)
	}
	return n, nil
}

// pairs splits "a=1,b=2" into key/value pairs.
func pairs(key, s string) ([][2]string, error) {
	var out [][2]string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok || k == "" || v == "" {
			return nil, cli.Usagef(key, "want NAME=VALUE, got %q", item)
		}
		out = append(out, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return out, nil
}

func topicSettings(partitions, retention string) (map[string]hub.TopicConfig, error) {
	out := map[string]hub.TopicConfig{}
	pp, err := pairs("topic-partitions", partitions)
	if err != nil {
		return nil, err
	}
	for _, p := range pp {
		n, err := strconv.Atoi(p[1])
		if err != nil || n < 1 || n > 10000 {
			return nil, cli.Usagef("topic-partitions", "%s: want 1..10000 partitions, got %q", p[0], p[1])
		}
		if err := hub.ValidTopicName(p[0]); err != nil {
			return nil, cli.Usagef("topic-partitions", "%v", err)
		}
		tc := out[p[0]]
		tc.Partitions = n
		out[p[0]] = tc
	}
	rr, err := pairs("topic-retention", retention)
	if err != nil {
		return nil, err
	}
	for _, p := range rr {
		d, err := parseRetention(p[1])
		if err != nil {
			return nil, cli.Usagef("topic-retention", "%s: %v", p[0], err)
		}
		if err := hub.ValidTopicName(p[0]); err != nil {
			return nil, cli.Usagef("topic-retention", "%v", err)
		}
		tc := out[p[0]]
		tc.RetentionAge = d
		out[p[0]] = tc
	}
	return out, nil
}

func parseRoutes(s string) ([]hub.Route, error) {
	pp, err := pairs("route", s)
	if err != nil {
		return nil, err
	}
	var out []hub.Route
	for _, p := range pp {
		out = append(out, hub.Route{Filter: p[0], Topic: p[1]})
	}
	if err := (&hub.Config{Routes: out}).Check(); err != nil {
		return nil, err
	}
	return out, nil
}

// kafkaSecurity loads the Kafka listener's TLS certificate and SASL users.
func (f *hubFlags) kafkaSecurity(o *hubOptions) error {
	if (f.kafkaCert == "") != (f.kafkaKey == "") {
		return cli.Usagef("kafka-tls-cert", "--kafka-tls-cert and --kafka-tls-key go together")
	}
	if f.kafkaCert != "" {
		if _, err := os.Stat(f.kafkaCert); err != nil {
			return cli.Usagef("kafka-tls-cert", "%v", err)
		}
		if _, err := os.Stat(f.kafkaKey); err != nil {
			return cli.Usagef("kafka-tls-key", "%v", err)
		}
		o.kafkaCert, o.kafkaKey = f.kafkaCert, f.kafkaKey
	}
	if f.kafkaUsers != "" {
		users, err := readUsers(f.kafkaUsers)
		if err != nil {
			return cli.Usagef("kafka-users", "%v", err)
		}
		o.kafkaUsers = users
	}
	return nil
}

// readUsers reads USER:PASSWORD lines (blank lines and # comments ignored).
func readUsers(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	users := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		u, p, ok := strings.Cut(line, ":")
		if !ok || u == "" || p == "" {
			return nil, fmt.Errorf("%s:%d: want USER:PASSWORD", path, i+1)
		}
		users[u] = p
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%s: no users", path)
	}
	return users, nil
}

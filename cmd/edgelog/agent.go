package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/edgelog/edgelog/agent"
	"github.com/edgelog/edgelog/agent/shipper"
	"github.com/edgelog/edgelog/devices"
	"github.com/edgelog/edgelog/internal/cli"
	"github.com/edgelog/edgelog/internal/pki"
	"github.com/edgelog/edgelog/syncproto/quictransport"
	"github.com/edgelog/edgelog/wal"
)

const agentSynopsis = `edgelog agent --hub ADDR --credentials FILE [flags]

Runs an edge agent: an MQTT 3.1.1/5 broker for devices that writes every
publish to a local write-ahead log, acknowledges QoS 1/2 publishes only
once they are durable, and replicates the log to the hub. Local subscribers
receive publishes as from any broker. The agent keeps accepting publishes
while the hub is unreachable (up to --max-disk) and catches up when it
returns. --local-only instead of --hub runs a durable local broker that
replicates nothing.

Without --devices, anonymous clients are accepted from loopback addresses
only. SIGINT/SIGTERM: stop intake, answer in-flight publishes, fsync, exit 0.`

// agentFlags are the flags of `edgelog agent`.
type agentFlags struct {
	data, hub, credentials               string
	listenMQTT, listenTLS, listenWS      string
	tlsCert, tlsKey, listenHTTP, devices string
	fsync, whenFull, logLevel, logFormat string
	maxDisk, maxPacket, maxUploadRate    cli.Bytes
	maxPending                           int
	localOnly                            bool
	// Sync tuning: reconnect backoff cap, QUIC keep-alive and idle timeout.
	reconnectMax, keepAlive, idleTimeout time.Duration
	writeTimeout                         time.Duration
}

func agentCommand() cli.Command {
	return cli.Command{Name: "agent", Summary: "runs an edge agent (durable MQTT ingest, replicated to a hub)", Run: runAgent}
}

func runAgent(ctx context.Context, args []string, env *cli.Env) int {
	fs := cli.NewFlagSet("agent", agentSynopsis, env)
	f := agentFlags{maxDisk: 1 << 30, maxPacket: 1 << 20}
	fs.StringVar(&f.data, "data", "./edgelog-agent", "directory for the WAL and agent state")
	fs.StringVar(&f.hub, "hub", "", "hub's --listen-sync address, host:port (required unless --local-only)")
	fs.StringVar(&f.credentials, "credentials", "", "credentials bundle made by edgelog hub credentials (required with --hub)")
	fs.BoolVar(&f.localOnly, "local-only", false, "run without a hub: a durable local broker whose WAL is bounded by --max-disk")
	fs.StringVar(&f.listenMQTT, "listen-mqtt", ":1883", "MQTT over TCP listener for devices")
	fs.StringVar(&f.listenTLS, "listen-mqtt-tls", "", "MQTT over TLS listener (needs --tls-cert and --tls-key)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (chain) of the MQTT TLS listener")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of the MQTT TLS listener")
	fs.StringVar(&f.listenWS, "listen-ws", "", "MQTT over WebSocket listener")
	fs.StringVar(&f.listenHTTP, "listen-http", ":8081", "HTTP listener: /healthz, /readyz, /metrics, /v1/status")
	fs.StringVar(&f.devices, "devices", "", "device registry file (credentials and topic ACLs; reloaded on change)")
	fs.StringVar(&f.fsync, "fsync", "always", "always: ack QoS 1/2 only after fsync (group commit); interval; never")
	fs.Var(&f.maxDisk, "max-disk", "WAL disk quota (e.g. 512MiB, 2GiB)")
	fs.StringVar(&f.whenFull, "when-full", "block", "at the quota: block (refuse new publishes) or drop-oldest (drop the oldest unsynced records)")
	fs.Var(&f.maxPacket, "max-packet-size", "largest MQTT packet accepted")
	fs.IntVar(&f.maxPending, "max-pending", 1024, "publishes per connection awaiting their commit (MQTT 5 Receive Maximum)")
	fs.DurationVar(&f.writeTimeout, "write-timeout", 10*time.Second, "disconnect a client that takes no bytes for this long while the agent writes to it (a subscriber that stopped reading)")
	fs.Var(&f.maxUploadRate, "max-upload-rate", "cap on sync upload, bytes per second (e.g. 256KiB; 0: link speed)")
	fs.DurationVar(&f.reconnectMax, "reconnect-max", 30*time.Second, "longest wait between reconnection attempts to the hub (exponential backoff with full jitter)")
	fs.DurationVar(&f.keepAlive, "hub-keepalive", 10*time.Second, "QUIC keep-alive period towards the hub")
	fs.DurationVar(&f.idleTimeout, "hub-idle-timeout", 30*time.Second, "drop the hub connection after this long without a packet, and reconnect")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	if code, ok := cli.ReportParse(cli.Parse(fs, args), env, "agent"); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return agentUsage(env, cli.Usagef("", "unexpected argument %q", fs.Arg(0)))
	}
	logger, err := f.logger(env)
	if err != nil {
		return agentUsage(env, err)
	}
	cfg, creds, err := f.config(logger)
	if err != nil {
		return agentUsage(env, err)
	}
	var sc *shipper.Config
	if f.localOnly {
		logger.Warn("agent: --local-only: nothing is replicated; records stay in the WAL (bounded by --max-disk)")
	} else {
		if sc, err = f.syncConfig(creds); err != nil {
			return agentUsage(env, err)
		}
	}
	a, _, err := newAgent(cfg, sc)
	if err != nil {
		fmt.Fprintf(env.Stderr, "edgelog agent: %v\n", err)
		return cli.ExitFailure
	}
	ctx, stop := cli.SignalContext(ctx)
	defer stop()
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(env.Stderr, "edgelog agent: %v\n", err)
		return cli.ExitFailure
	}
	return cli.ExitOK
}

// newAgent builds an agent from cfg and, unless sc is nil, attaches a
// shipper to the hub configured by sc (its Logger and Registry are the
// agent's). The agent is ready to Run.
func newAgent(cfg agent.Config, sc *shipper.Config) (*agent.Agent, *shipper.Shipper, error) {
	a, err := agent.New(cfg)
	if err != nil || sc == nil {
		return a, nil, err
	}
	c := *sc
	c.Logger, c.Registry = cfg.Logger, a.Registry()
	sh, err := shipper.New(a.WAL(), a.SetHubAcked, c)
	if err != nil {
		return nil, nil, err
	}
	a.AttachSync(sh)
	return a, sh, nil
}

// syncConfig is the shipper's configuration from the sync flags.
func (f *agentFlags) syncConfig(creds *pki.Bundle) (*shipper.Config, error) {
	switch {
	case f.maxUploadRate < 0:
		return nil, cli.Usagef("max-upload-rate", "must not be negative")
	case f.reconnectMax <= 0:
		return nil, cli.Usagef("reconnect-max", "must be positive, got %v", f.reconnectMax)
	case f.idleTimeout <= 0:
		return nil, cli.Usagef("hub-idle-timeout", "must be positive, got %v", f.idleTimeout)
	case f.keepAlive <= 0 || f.keepAlive >= f.idleTimeout:
		return nil, cli.Usagef("hub-keepalive", "must be positive and shorter than --hub-idle-timeout (%v), got %v", f.idleTimeout, f.keepAlive)
	}
	base := time.Second
	if f.reconnectMax < base {
		base = f.reconnectMax
	}
	return &shipper.Config{
		Hub: f.hub, Credentials: creds, MaxUploadRate: int64(f.maxUploadRate),
		BackoffBase: base, BackoffMax: f.reconnectMax,
		QUIC: quictransport.Config{KeepAlivePeriod: f.keepAlive, MaxIdleTimeout: f.idleTimeout},
	}, nil
}

func agentUsage(env *cli.Env, err error) int {
	fmt.Fprintf(env.Stderr, "edgelog agent: %v\n", err)
	return cli.ExitUsage
}

func (f *agentFlags) logger(env *cli.Env) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, cli.Usagef("log-level", "want debug, info, warn or error, got %q", f.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(env.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(env.Stderr, opts)), nil
	}
	return nil, cli.Usagef("log-format", "want text or json, got %q", f.logFormat)
}

// config turns the flags into an agent.Config, checking each against its
// key so that a bad value is reported before anything starts.
func (f *agentFlags) config(logger *slog.Logger) (agent.Config, *pki.Bundle, error) {
	cfg := agent.Config{
		DataDir: f.data, MQTTAddr: f.listenMQTT, TLSAddr: f.listenTLS, WSAddr: f.listenWS,
		HTTPAddr: f.listenHTTP, MaxDisk: int64(f.maxDisk), MaxPacketSize: int(f.maxPacket),
		MaxPending: f.maxPending, WriteTimeout: f.writeTimeout, Hub: f.hub, Logger: logger, FS: faultWALFS(logger),
	}
	var err error
	if cfg.Fsync, err = wal.ParseFsyncPolicy(f.fsync); err != nil {
		return cfg, nil, cli.Usagef("fsync", "want always, interval or never, got %q", f.fsync)
	}
	if cfg.WhenFull, err = agent.ParseWhenFull(f.whenFull); err != nil {
		return cfg, nil, cli.Usagef("when-full", "want block or drop-oldest, got %q", f.whenFull)
	}
	if f.data == "" {
		return cfg, nil, cli.Usagef("data", "must not be empty")
	}
	for key, addr := range map[string]string{"listen-mqtt": f.listenMQTT, "listen-mqtt-tls": f.listenTLS, "listen-ws": f.listenWS, "listen-http": f.listenHTTP} {
		if err := checkListenAddr(addr, key != "listen-mqtt" && key != "listen-http"); err != nil {
			return cfg, nil, cli.Usagef(key, "%v", err)
		}
	}
	if f.writeTimeout < 100*time.Millisecond {
		return cfg, nil, cli.Usagef("write-timeout", "want at least 100ms, got %v", f.writeTimeout)
	}
	if f.maxPending < 1 || f.maxPending > 65535 {
		return cfg, nil, cli.Usagef("max-pending", "want 1..65535, got %d", f.maxPending)
	}
	if f.maxPacket < 64 || f.maxPacket > 16<<20 {
		return cfg, nil, cli.Usagef("max-packet-size", "want 64B..16MiB, got %s", f.maxPacket.String())
	}
	if min := 16 * (int64(f.maxPacket) + 512); int64(f.maxDisk) < min {
		return cfg, nil, cli.Usagef("max-disk", "%s is too small: at least %s for --max-packet-size %s", f.maxDisk.String(), cli.FormatBytes(min), f.maxPacket.String())
	}
	if cfg.TLSConfig, err = f.tlsConfig(); err != nil {
		return cfg, nil, err
	}
	creds, err := f.checkHub()
	if err != nil {
		return cfg, nil, err
	}
	if f.devices != "" {
		if cfg.Devices, err = devices.Load(f.devices); err != nil {
			return cfg, nil, cli.Usagef("devices", "%v", err)
		}
	}
	return cfg, creds, nil
}

func checkListenAddr(addr string, optional bool) error {
	if addr == "" {
		if optional {
			return nil
		}
		return errors.New("must not be empty")
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return fmt.Errorf("want host:port or :port, got %q", addr)
	}
	return nil
}

// tlsConfig loads the MQTT TLS listener's certificate. Client certificates
// are requested but verified by the device registry's pins, not by a CA.
func (f *agentFlags) tlsConfig() (*tls.Config, error) {
	if f.listenTLS == "" {
		if f.tlsCert != "" || f.tlsKey != "" {
			return nil, cli.Usagef("tls-cert", "given without --listen-mqtt-tls")
		}
		return nil, nil
	}
	if f.tlsCert == "" || f.tlsKey == "" {
		return nil, cli.Usagef("listen-mqtt-tls", "needs --tls-cert and --tls-key")
	}
	cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
	if err != nil {
		return nil, cli.Usagef("tls-cert", "%v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, ClientAuth: tls.RequestClientCert}, nil
}

// checkHub validates --hub and --credentials, which go together, or
// --local-only, and loads the credentials bundle.
func (f *agentFlags) checkHub() (*pki.Bundle, error) {
	switch {
	case f.localOnly && (f.hub != "" || f.credentials != ""):
		return nil, cli.Usagef("local-only", "contradicts --hub and --credentials")
	case f.localOnly:
		return nil, nil
	case f.hub == "":
		return nil, cli.Usagef("hub", "required (the hub's --listen-sync address), or --local-only to replicate nothing")
	case f.credentials == "":
		return nil, cli.Usagef("credentials", "required with --hub (create one with edgelog hub credentials)")
	}
	if host, port, err := net.SplitHostPort(f.hub); err != nil || host == "" || port == "" {
		return nil, cli.Usagef("hub", "want host:port, got %q", f.hub)
	}
	creds, err := pki.LoadBundle(f.credentials)
	if err != nil {
		return nil, cli.Usagef("credentials", "%v", err)
	}
	return creds, nil
}

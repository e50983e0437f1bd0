package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/edgelog/edgelog/agent"
	"github.com/edgelog/edgelog/devices"
	"github.com/edgelog/edgelog/internal/cli"
	"github.com/edgelog/edgelog/wal"
)

const agentSynopsis = `edgelog agent [flags]

Runs an edge agent: an MQTT 3.1.1/5 broker for devices that writes every
publish to a local write-ahead log and acknowledges QoS 1/2 publishes only
once they are durable. Local subscribers receive publishes as from any
broker. With --hub and --credentials the log is replicated to that hub;
without --hub the agent runs as a local durable broker only.

Without --devices, anonymous clients are accepted from loopback addresses
only. SIGINT/SIGTERM: stop intake, answer in-flight publishes, fsync, exit 0.`

// agentFlags are the flags of `edgelog agent`.
type agentFlags struct {
	data, hub, credentials               string
	listenMQTT, listenTLS, listenWS      string
	tlsCert, tlsKey, listenHTTP, devices string
	fsync, whenFull, logLevel, logFormat string
	maxDisk, maxPacket                   cli.Bytes
	maxPending                           int
}

func agentCommand() cli.Command {
	return cli.Command{Name: "agent", Summary: "runs an edge agent (durable MQTT ingest, replicated to a hub)", Run: runAgent}
}

func runAgent(ctx context.Context, args []string, env *cli.Env) int {
	fs := cli.NewFlagSet("agent", agentSynopsis, env)
	f := agentFlags{maxDisk: 1 << 30, maxPacket: 1 << 20}
	fs.StringVar(&f.data, "data", "./edgelog-agent", "directory for the WAL and agent state")
	fs.StringVar(&f.hub, "hub", "", "hub's --listen-sync address (host:port); without it nothing is replicated")
	fs.StringVar(&f.credentials, "credentials", "", "credentials bundle made by edgelog hub credentials (required with --hub)")
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
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	agentHelp(fs, env, args)
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
	cfg, err := f.config(logger)
	if err != nil {
		return agentUsage(env, err)
	}
	a, err := agent.New(cfg)
	if err != nil {
		fmt.Fprintf(env.Stderr, "edgelog agent: %v\n", err)
		return cli.ExitFailure
	}
	if f.hub == "" {
		logger.Warn("agent: no --hub: running as a local durable broker; records stay in the WAL (bounded by --max-disk)")
	} else {
		logger.Warn("agent: hub sync is not built yet; records stay in the WAL (bounded by --max-disk)", "hub", f.hub)
	}
	ctx, stop := cli.SignalContext(ctx)
	defer stop()
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(env.Stderr, "edgelog agent: %v\n", err)
		return cli.ExitFailure
	}
	return cli.ExitOK
}

// agentHelp makes -h/--help print the synopsis and every flag to
// env.Stderr, once. (The flag package also calls Usage on parse errors,
// which are reported in one line instead, and cli.Parse silences the flag
// set's output while parsing.)
func agentHelp(fs *flag.FlagSet, env *cli.Env, args []string) {
	printed := !slices.ContainsFunc(args, func(a string) bool {
		return a == "-h" || a == "--h" || a == "-help" || a == "--help"
	})
	fs.Usage = func() {
		if printed {
			return
		}
		printed = true
		fmt.Fprintf(env.Stderr, "usage: %s\n\nflags:\n", agentSynopsis)
		out := fs.Output()
		fs.SetOutput(env.Stderr)
		fs.PrintDefaults()
		fs.SetOutput(out)
	}
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
func (f *agentFlags) config(logger *slog.Logger) (agent.Config, error) {
	cfg := agent.Config{
		DataDir: f.data, MQTTAddr: f.listenMQTT, TLSAddr: f.listenTLS, WSAddr: f.listenWS,
		HTTPAddr: f.listenHTTP, MaxDisk: int64(f.maxDisk), MaxPacketSize: int(f.maxPacket),
		MaxPending: f.maxPending, Hub: f.hub, Logger: logger,
	}
	var err error
	if cfg.Fsync, err = wal.ParseFsyncPolicy(f.fsync); err != nil {
		return cfg, cli.Usagef("fsync", "want always, interval or never, got %q", f.fsync)
	}
	if cfg.WhenFull, err = agent.ParseWhenFull(f.whenFull); err != nil {
		return cfg, cli.Usagef("when-full", "want block or drop-oldest, got %q", f.whenFull)
	}
	if f.data == "" {
		return cfg, cli.Usagef("data", "must not be empty")
	}
	for key, addr := range map[string]string{"listen-mqtt": f.listenMQTT, "listen-mqtt-tls": f.listenTLS, "listen-ws": f.listenWS, "listen-http": f.listenHTTP} {
		if err := checkListenAddr(addr, key != "listen-mqtt" && key != "listen-http"); err != nil {
			return cfg, cli.Usagef(key, "%v", err)
		}
	}
	if f.maxPending < 1 || f.maxPending > 65535 {
		return cfg, cli.Usagef("max-pending", "want 1..65535, got %d", f.maxPending)
	}
	if f.maxPacket < 64 || f.maxPacket > 16<<20 {
		return cfg, cli.Usagef("max-packet-size", "want 64B..16MiB, got %s", f.maxPacket.String())
	}
	if min := 16 * (int64(f.maxPacket) + 512); int64(f.maxDisk) < min {
		return cfg, cli.Usagef("max-disk", "%s is too small: at least %s for --max-packet-size %s", f.maxDisk.String(), cli.FormatBytes(min), f.maxPacket.String())
	}
	if cfg.TLSConfig, err = f.tlsConfig(); err != nil {
		return cfg, err
	}
	if err := f.checkHub(); err != nil {
		return cfg, err
	}
	if f.devices != "" {
		if cfg.Devices, err = devices.Load(f.devices); err != nil {
			return cfg, cli.Usagef("devices", "%v", err)
		}
	}
	return cfg, nil
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

// checkHub validates --hub and --credentials, which go together.
func (f *agentFlags) checkHub() error {
	switch {
	case f.hub == "" && f.credentials == "":
		return nil
	case f.hub == "":
		return cli.Usagef("hub", "required with --credentials")
	case f.credentials == "":
		return cli.Usagef("credentials", "required with --hub (create one with edgelog hub credentials)")
	}
	if host, port, err := net.SplitHostPort(f.hub); err != nil || host == "" || port == "" {
		return cli.Usagef("hub", "want host:port, got %q", f.hub)
	}
	if _, err := loadAgentCredentials(f.credentials); err != nil {
		return cli.Usagef("credentials", "%v", err)
	}
	return nil
}

// agentCredentials is a parsed credentials bundle: the agent's client
// certificate and key, and the CAs it trusts for the hub.
type agentCredentials struct {
	cert    tls.Certificate
	agentID string
	roots   *x509.CertPool
}

// loadAgentCredentials reads a PEM bundle holding one private key, the
// certificate matching it, and at least one CA certificate; the order of
// the blocks does not matter.
func loadAgentCredentials(path string) (*agentCredentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > 1<<20 {
		return nil, fmt.Errorf("%s is larger than 1MiB", path)
	}
	var certs [][]byte
	var keyPEM []byte
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			certs = append(certs, pem.EncodeToMemory(b))
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			if keyPEM != nil {
				return nil, fmt.Errorf("%s holds more than one private key", path)
			}
			keyPEM = pem.EncodeToMemory(b)
		}
	}
	if keyPEM == nil || len(certs) < 2 {
		return nil, fmt.Errorf("%s is not a credentials bundle: want a private key, its certificate and the hub CA (PEM)", path)
	}
	c := &agentCredentials{roots: x509.NewCertPool()}
	found := false
	for _, certPEM := range certs {
		if kp, err := tls.X509KeyPair(certPEM, keyPEM); err == nil && !found {
			leaf, err := x509.ParseCertificate(kp.Certificate[0])
			if err != nil {
				return nil, err
			}
			c.cert, c.agentID, found = kp, leaf.Subject.CommonName, true
			continue
		}
		c.roots.AppendCertsFromPEM(certPEM)
	}
	if !found {
		return nil, fmt.Errorf("%s: no certificate matches the private key", path)
	}
	if c.agentID == "" {
		return nil, fmt.Errorf("%s: the agent certificate has no common name (the agent ID)", path)
	}
	return c, nil
}

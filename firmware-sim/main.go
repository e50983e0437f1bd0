// Command firmware-sim runs a simulated device fleet against an MQTT broker
// (normally an edgelog agent): go run ./firmware-sim --help.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgelog/edgelog/devices"
	"github.com/edgelog/edgelog/firmware-sim/sim"
	"github.com/edgelog/edgelog/internal/cli"
	"golang.org/x/term"
)

const usage = `usage: firmware-sim [flags]                 simulate a fleet
       firmware-sim provision [flags]       create its devices in a registry

Each simulated device is its own MQTT connection (client ID = device ID,
username = device ID). With --credentials, devices use the IDs and
passwords listed there (firmware-sim provision writes that file and the
matching registry entries); without, IDs are sim-0001… and no password is
sent. firmware-sim --help lists every flag.`

func main() {
	ctx, stop := cli.SignalContext(context.Background())
	defer stop()
	os.Exit(run(ctx, os.Args[1:], cli.OSEnv()))
}

func run(ctx context.Context, args []string, env *cli.Env) int {
	if len(args) > 0 && args[0] == "provision" {
		return runProvision(args[1:], env)
	}
	if len(args) > 0 && args[0] == "help" {
		fmt.Fprintln(env.Stderr, usage)
		return cli.ExitOK
	}
	return runFleet(ctx, args, env)
}

// qosMap is --stream-qos STREAM=Q,...
type qosMap map[string]byte

func (m qosMap) String() string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	return strings.Join(parts, ",")
}

func (m qosMap) Set(s string) error {
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		q, err := strconv.ParseUint(v, 10, 8)
		if !ok || err != nil || q > 2 {
			return fmt.Errorf("%q: want STREAM=0|1|2", kv)
		}
		m[k] = byte(q)
	}
	return nil
}

type listValue struct{ v *[]string }

func (l listValue) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l listValue) Set(s string) error {
	*l.v = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l.v = append(*l.v, p)
		}
	}
	return nil
}

func runFleet(ctx context.Context, args []string, env *cli.Env) int {
	fs := cli.NewFlagSet("firmware-sim", "firmware-sim [flags]", env)
	var cfg sim.Config
	var qos uint
	streamQoS := qosMap{}
	fs.StringVar(&cfg.Broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker, tcp://HOST:PORT")
	fs.IntVar(&cfg.Devices, "devices", 10, "number of simulated devices")
	fs.Float64Var(&cfg.Rate, "rate", 1, "messages per second per device")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long devices sample (then the queues drain); 0 runs until interrupted")
	fs.DurationVar(&cfg.DrainTimeout, "drain", 30*time.Second, "after --duration, how long devices may still deliver what they queued")
	fs.UintVar(&qos, "qos", 1, "QoS of every stream (0, 1 or 2)")
	fs.Var(streamQoS, "stream-qos", "per-stream QoS overrides, e.g. log=0,gps=2")
	fs.StringVar(&cfg.Profile, "profile", "steady", "behaviour profile: "+profileHelp())
	fs.StringVar(&cfg.Format, "format", sim.FormatJSON, "payload format: json, cbor or binary")
	fs.Var(listValue{&cfg.Streams}, "streams", "streams each device samples in turn (default env,counter,gps,log)")
	fs.IntVar(&cfg.PayloadPad, "payload-pad", 0, "extra filler bytes per payload")
	creds := fs.String("credentials", "", "credentials file (from firmware-sim provision): device IDs and plaintext passwords")
	fs.StringVar(&cfg.IDPrefix, "id-prefix", "sim-", "device ID prefix without --credentials")
	fs.IntVar(&cfg.QueueSize, "queue", 1000, "on-device queue length (messages) while disconnected or asleep")
	fs.StringVar(&cfg.DropPolicy, "drop-policy", sim.DropOldest, "what a full queue drops: oldest or newest")
	fs.IntVar(&cfg.Inflight, "inflight", 32, "unacknowledged QoS 1/2 messages per device")
	fs.BoolVar(&cfg.Chaos, "chaos", false, "kill connections at random (see --chaos-interval)")
	fs.DurationVar(&cfg.ChaosInterval, "chaos-interval", 20*time.Second, "mean time between connection kills per device")
	fs.DurationVar(&cfg.Wake, "wake", 0, "duty cycle: time awake (with --sleep)")
	fs.DurationVar(&cfg.Sleep, "sleep", 0, "duty cycle: time asleep, queueing readings; 0 = never sleep")
	fs.Float64Var(&cfg.ClockDriftPPM, "clock-drift-ppm", 0, "device clocks run fast or slow by up to this many ppm")
	fs.DurationVar(&cfg.ClockOffset, "clock-offset", 0, "device clocks are off by up to ± this")
	fs.DurationVar(&cfg.DayLength, "day-length", 24*time.Hour, "period of the sensors' daily cycle (shorten it for demos)")
	fs.IntVar(&cfg.BadActors, "bad-actors", 0, "extra devices that misbehave, one misbehaviour each (in --bad-kinds order)")
	fs.Var(listValue{&cfg.BadKinds}, "bad-kinds", "misbehaviours: "+strings.Join(sim.AllBadKinds(), ","))
	fs.DurationVar(&cfg.BadInterval, "bad-interval", 2*time.Second, "time between a bad actor's attempts")
	fs.IntVar(&cfg.OversizeBytes, "oversize-bytes", 2<<20, "payload size of an oversized publish")
	seed := fs.Int64("seed", 0, "random seed (0: random); the same seed gives every device the same readings")
	report := fs.String("report", "", "write the final report as JSON to this file")
	ackedLog := fs.String("acked-log", "", "write every acknowledged message to this file, one JSON line each (client_id, seq, topic, qos)")
	quiet := fs.Bool("quiet", false, "no progress line")
	verbose := fs.Bool("v", false, "log connection errors")
	code, ok := cli.ReportParse(cli.Parse(fs, args), env, "firmware-sim")
	if !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "firmware-sim: unexpected argument %q\n", fs.Arg(0))
		return cli.ExitUsage
	}
	if qos > 2 {
		fmt.Fprintln(env.Stderr, "firmware-sim: qos: want 0, 1 or 2")
		return cli.ExitUsage
	}
	cfg.QoS, cfg.StreamQoS, cfg.Seed = byte(qos), streamQoS, *seed
	if *creds != "" {
		list, err := sim.LoadCredentials(*creds)
		if err != nil {
			fmt.Fprintf(env.Stderr, "firmware-sim: credentials: %v\n", err)
			return cli.ExitUsage
		}
		cfg.Credentials = list
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if *ackedLog != "" {
		al, err := openAckedLog(*ackedLog)
		if err != nil {
			fmt.Fprintf(env.Stderr, "firmware-sim: acked-log: %v\n", err)
			return cli.ExitUsage
		}
		defer al.close(env)
		cfg.OnAck = al.record
	}
	p := newProgress(env.Stderr, cfg.Devices, *quiet)
	cfg.Progress = p.update
	fleet, err := sim.New(cfg)
	if err != nil {
		fmt.Fprintf(env.Stderr, "firmware-sim: %s\n", strings.TrimPrefix(err.Error(), "sim: bad config: "))
		return cli.ExitUsage
	}
	rep, runErr := fleet.Run(ctx)
	p.finish()
	printSummary(env.Stderr, rep)
	if *report != "" {
		if err := writeReport(*report, rep); err != nil {
			fmt.Fprintf(env.Stderr, "firmware-sim: report: %v\n", err)
			return cli.ExitFailure
		}
	}
	if runErr != nil {
		fmt.Fprintf(env.Stderr, "firmware-sim: %v\n", runErr)
		return cli.ExitFailure
	}
	return cli.ExitOK
}

// ackedLog writes one JSON line per acknowledged message; record is called
// from every device's goroutine.
type ackedLog struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer // protected by mu
	err error         // first write error; protected by mu
}

func openAckedLog(path string) (*ackedLog, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &ackedLog{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

func (a *ackedLog) record(ack sim.Ack) {
	line, _ := json.Marshal(struct {
		ClientID string `json:"client_id"`
		Seq      uint64 `json:"seq"`
		Topic    string `json:"topic"`
		QoS      byte   `json:"qos"`
	}{ack.ClientID, ack.Seq, ack.Topic, ack.QoS})
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		_, a.err = a.w.Write(append(line, '\n'))
	}
}

func (a *ackedLog) close(env *cli.Env) {
	a.mu.Lock()
	defer a.mu.Unlock()
	err := a.err
	if err == nil {
		err = a.w.Flush()
	}
	if err == nil {
		err = a.f.Sync()
	}
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "firmware-sim: acked-log: %v\n", err)
	}
}

func profileHelp() string {
	var b strings.Builder
	for _, n := range sim.ProfileNames() {
		fmt.Fprintf(&b, "\n    %-10s %s", n, sim.ProfileSummary(n))
	}
	return b.String()
}

func writeReport(path string, rep sim.Report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return devices.WriteFileAtomic(path, append(data, '\n'), 0o644)
}

// progress prints the live line: rewritten in place on a terminal, every
// 5 s otherwise.
type progress struct {
	w        io.Writer
	devices  int
	tty      bool
	quiet    bool
	last     time.Time
	printed  bool
	lastLine string
}

func newProgress(w io.Writer, devices int, quiet bool) *progress {
	p := &progress{w: w, devices: devices, quiet: quiet}
	if f, ok := w.(*os.File); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	return p
}

func (p *progress) update(s sim.Stats) {
	if p.quiet {
		return
	}
	line := fmt.Sprintf("%5.0fs  sent %d  acked %d  failed %d  dropped %d  queued %d  inflight %d  connected %d/%d  reconnects %d",
		s.Elapsed.Seconds(), s.Sent, s.Acked, s.Failed, s.Dropped, s.Queued, s.Inflight, s.Connected, p.devices, s.Reconnects)
	switch {
	case p.tty:
		fmt.Fprintf(p.w, "\r%-*s", len(p.lastLine), line)
		p.lastLine, p.printed = line, true
	case time.Since(p.last) >= 5*time.Second:
		fmt.Fprintln(p.w, line)
		p.last = time.Now()
	}
}

func (p *progress) finish() {
	if p.printed {
		fmt.Fprintln(p.w)
	}
}

func printSummary(w io.Writer, r sim.Report) {
	fmt.Fprintf(w, "firmware-sim: %d devices (%s, %s, qos %d) against %s for %.1fs\n",
		r.Devices, r.Profile, r.Format, r.QoS, r.Broker, r.Seconds)
	fmt.Fprintf(w, "  generated %d  sent %d  acked %d (%.1f/s)  failed %d  dropped %d  unsent %d\n",
		r.Generated, r.Sent, r.Acked, r.AckedPerSecond, r.Failed, r.Dropped, r.Unsent)
	fmt.Fprintf(w, "  qos0 delivered %d lost %d  connects %d  reconnects %d  connect failures %d  chaos kills %d  sleeps %d\n",
		r.DeliveredQoS0, r.LostQoS0, r.Connects, r.Reconnects, r.ConnectFailures, r.ChaosKills, r.Sleeps)
	if r.Acked > 0 {
		fmt.Fprintf(w, "  ack latency p50 %.2fms  p95 %.2fms  p99 %.2fms\n", r.AckLatencyMs.P50, r.AckLatencyMs.P95, r.AckLatencyMs.P99)
	}
	for _, kind := range sim.AllBadKinds() {
		b, ok := r.Bad[kind]
		if !ok {
			continue
		}
		warn := ""
		if b.Accepted > 0 {
			warn = "  <- the broker let these through"
		}
		fmt.Fprintf(w, "  bad actor %-15s attempts %d  refused %d  accepted %d  errors %d%s\n", kind, b.Attempts, b.Refused, b.Accepted, b.Errors, warn)
	}
}

func runProvision(args []string, env *cli.Env) int {
	fs := cli.NewFlagSet("firmware-sim provision", "firmware-sim provision --registry FILE --credentials FILE --devices N [flags]", env)
	registry := fs.String("registry", "", "device registry to add the devices to (created if missing)")
	credsPath := fs.String("credentials", "", "credentials file to write (plaintext passwords, mode 0600)")
	var o sim.ProvisionOptions
	fs.IntVar(&o.Devices, "devices", 10, "number of devices")
	fs.IntVar(&o.BadActors, "bad-actors", 0, "number of bad actors (registered like the devices)")
	fs.StringVar(&o.Prefix, "id-prefix", "sim-", "device ID prefix")
	fs.IntVar(&o.Cost, "cost", devices.DefaultCost, "bcrypt cost of the registry's password hashes")
	err := cli.Parse(fs, args)
	switch {
	case err != nil:
	case *registry == "":
		err = cli.Usagef("registry", "required")
	case *credsPath == "":
		err = cli.Usagef("credentials", "required")
	case o.Devices < 0 || o.BadActors < 0 || o.Devices+o.BadActors == 0:
		err = cli.Usagef("devices", "want at least one device")
	case o.Cost < 4 || o.Cost > 31:
		err = cli.Usagef("cost", "%d is outside 4..31", o.Cost)
	}
	if code, ok := cli.ReportParse(err, env, "firmware-sim provision"); !ok {
		return code
	}
	if err := sim.ProvisionFiles(*registry, *credsPath, o); err != nil {
		if errors.Is(err, devices.ErrExists) {
			err = fmt.Errorf("%w (use another --id-prefix)", err)
		}
		fmt.Fprintf(env.Stderr, "firmware-sim provision: %v\n", err)
		return cli.ExitFailure
	}
	fmt.Fprintf(env.Stderr, "provisioned %d devices and %d bad actors: registry %s, credentials %s\n",
		o.Devices, o.BadActors, *registry, *credsPath)
	return cli.ExitOK
}

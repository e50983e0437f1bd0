package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/edgelog/edgelog/devices"
	"github.com/edgelog/edgelog/wal"
)

// drainTimeout bounds how long shutdown waits for in-flight publishes to be
// answered before closing connections anyway (nothing unanswered was
// acknowledged, so nothing is lost by giving up).
const drainTimeout = 10 * time.Second

// Agent is an edge agent: an MQTT broker whose publishes go to a WAL.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	wal    *wal.Log
	quota  *quota
	server *mqtt.Server
	hook   *hook
	met    *metrics
	httpLn net.Listener
	http   *http.Server
	start  time.Time

	conns     sync.Map       // *mqtt.Client → *conn
	acks      sync.WaitGroup // connection workers
	injectors sync.Pool      // *mqtt.Client: inline clients for local delivery
	bg        sync.WaitGroup // registry watch
	q2        qos2Set
	rt        *retransmits
	auth      auth

	rejects rejectLog
	life    context.Context // cancelled when the agent has stopped
	endLife context.CancelFunc

	ready     atomic.Bool
	closing   atomic.Bool
	failed    atomic.Bool   // the WAL failed and is not reopened yet
	walBroken chan struct{} // capacity 1: wakes recoverWAL

	syncMu sync.Mutex // protects syncer
	syncer Syncer

	savedHubAcked atomic.Uint64 // last hub acknowledgement written to hubAckedFile
	writeTimeouts atomic.Int64  // client writes that hit Config.WriteTimeout
}

// New opens the WAL (repairing a torn tail), binds the MQTT and HTTP
// listeners and returns an agent ready to Run. Nothing is served before
// Run.
func New(cfg Config) (*Agent, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, start: time.Now(), rt: newRetransmits(), walBroken: make(chan struct{}, 1)}
	a.life, a.endLife = context.WithCancel(context.Background())
	l, err := wal.Open(filepath.Join(cfg.DataDir, "wal"), wal.Options{
		Fsync:         cfg.Fsync,
		SegmentSize:   cfg.segmentSize(),
		MaxRecordSize: cfg.maxRecordSize(),
		FS:            cfg.FS,
		Logger:        cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("agent: open WAL: %w", err)
	}
	a.wal = l
	if rec := l.Recovery(); rec.Repaired() {
		a.log.Warn("agent: repaired the WAL after an unclean stop", "recovery", fmt.Sprintf("%+v", rec))
	}
	a.quota = newQuota(l, cfg.MaxDisk, cfg.WhenFull, a.log)
	// The tail is scanned before the saved hub position trims the log: a
	// record the hub holds may still await its client's ack, and the
	// client's retransmission of it must be recognised.
	if n, err := a.scanUnacked(); err != nil {
		a.log.Warn("agent: could not read the WAL's tail for unacknowledged records; their retransmissions will be stored again", "found", n, "err", err)
	} else if n > 0 {
		a.log.Info("agent: remembered the records at the WAL's tail whose clients may retransmit them", "records", n)
	}
	a.loadHubAcked()
	if cfg.Devices != nil {
		a.auth.reg.Store(cfg.Devices)
		a.auth.limiter = devices.NewLoginLimiter(devices.LimiterConfig{})
	}
	a.server = newServer(&a.cfg)
	a.hook = &hook{a: a}
	a.met = newMetrics(a)
	err = a.server.AddHook(a.hook, nil)
	if err == nil {
		err = a.addListeners()
	}
	if err == nil {
		a.httpLn, err = net.Listen("tcp", cfg.HTTPAddr)
	}
	if err != nil {
		a.server.Close()
		l.Close()
		a.endLife()
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.http = &http.Server{Handler: a.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
	return a, nil
}

// newServer builds the embedded broker with the agent's limits.
func newServer(cfg *Config) *mqtt.Server {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = uint32(cfg.MaxPacketSize)
	caps.ReceiveMaximum = uint16(cfg.MaxPending)
	caps.TopicAliasMaximum = topicAliasMaximum
	caps.MaximumSessionExpiryInterval = 24 * 60 * 60
	caps.Compatibilities.NoInheritedPropertiesOnAck = true
	// Each connection gets an outbound queue of this many packet slots up
	// front, used only by what it subscribed to.
	caps.MaximumClientWritesPending = int32(cfg.OutboundQueue)
	// mochi's own logs are mostly per-connection noise (every EOF is a
	// warning); the agent logs what matters itself.
	mlog := cfg.Logger.With("component", "mqtt")
	mlog = slog.New(levelFilter{h: mlog.Handler(), min: slog.LevelError})
	return mqtt.New(&mqtt.Options{Capabilities: caps, Logger: mlog, ClientNetReadBufferSize: cfg.ReadBuffer})
}

func (a *Agent) addListeners() error {
	limits := connLimits{writeTimeout: a.cfg.WriteTimeout, connectTimeout: a.cfg.ConnectTimeout, writeTimeouts: &a.writeTimeouts}
	ls := []listeners.Listener{newTCPListener("mqtt", a.cfg.MQTTAddr, nil, limits)}
	if a.cfg.TLSAddr != "" {
		ls = append(ls, newTCPListener("mqtt-tls", a.cfg.TLSAddr, a.cfg.TLSConfig, limits))
	}
	if a.cfg.WSAddr != "" {
		ls = append(ls, listeners.NewWebsocket(listeners.Config{ID: "mqtt-ws", Address: a.cfg.WSAddr}))
	}
	if a.cfg.WSAddr != "" {
		// mochi's WebSocket listener binds only when served and logs a
		// failure instead of returning it: probe the address now.
		probe, err := net.Listen("tcp", a.cfg.WSAddr)
		if err != nil {
			return fmt.Errorf("listen mqtt-ws %s: %w", a.cfg.WSAddr, err)
		}
		probe.Close()
	}
	for _, l := range ls {
		if err := a.server.AddListener(l); err != nil {
			return fmt.Errorf("listen %s %s: %w", l.ID(), l.Address(), err)
		}
	}
	return nil
}

// MQTTAddr is the bound address of the MQTT over TCP listener.
func (a *Agent) MQTTAddr() string { return a.listenerAddr("mqtt") }

// TLSAddr is the bound address of the MQTT over TLS listener ("" if none).
func (a *Agent) TLSAddr() string { return a.listenerAddr("mqtt-tls") }

// HTTPAddr is the bound address of the HTTP listener.
func (a *Agent) HTTPAddr() string { return a.httpLn.Addr().String() }

func (a *Agent) listenerAddr(id string) string {
	l, ok := a.server.Listeners.Get(id)
	if !ok {
		return ""
	}
	return l.Address()
}

// WAL is the agent's log, for a Syncer to ship from.
func (a *Agent) WAL() *wal.Log { return a.wal }

// SetHubAcked tells the agent that the hub durably holds every record up
// to seq; the WAL front is trimmed below it.
func (a *Agent) SetHubAcked(seq uint64) error { return a.quota.setHubAcked(seq) }

// Ready reports whether publishes are accepted (serving, WAL healthy, not
// shutting down). The hub's reachability does not matter.
func (a *Agent) Ready() bool { return a.ready.Load() && !a.failed.Load() && !a.closing.Load() }

// Run serves until ctx is done, then shuts down: stop intake, answer
// in-flight publishes, fsync the WAL, stop the attached Syncer, close the
// WAL. It returns nil after a clean shutdown.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.server.Serve(); err != nil {
		return fmt.Errorf("agent: serve MQTT: %w", err)
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- a.http.Serve(a.httpLn) }()
	syncCtx, stopSync := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSync()
	a.bg.Add(3)
	go func() {
		defer a.bg.Done()
		a.watchDevices(syncCtx)
	}()
	go func() {
		defer a.bg.Done()
		a.recoverWAL(syncCtx)
	}()
	go func() {
		defer a.bg.Done()
		a.saveHubAckedLoop(syncCtx)
	}()
	syncDone := make(chan error, 1)
	if s := a.attachedSyncer(); s != nil {
		go func() { syncDone <- s.Run(syncCtx) }()
	} else {
		syncDone <- nil
	}
	a.ready.Store(true)
	a.log.Info("agent: accepting MQTT publishes", "mqtt", a.MQTTAddr(), "http", a.HTTPAddr(),
		"wal", a.wal.Dir(), "first_seq", a.wal.First(), "next_seq", a.wal.Next(), "fsync", a.cfg.Fsync.String(),
		"max_disk", a.cfg.MaxDisk, "when_full", a.cfg.WhenFull.String())

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-httpErr:
		runErr = fmt.Errorf("agent: HTTP server: %w", err)
	}
	a.shutdown(stopSync, syncDone)
	return runErr
}

// shutdown runs the shutdown order of DESIGN.md invariant 7.
func (a *Agent) shutdown(stopSync context.CancelFunc, syncDone <-chan error) {
	a.log.Info("agent: shutting down")
	// 1. Stop intake: new publishes are refused (and not acknowledged).
	a.closing.Store(true)
	// 2. Answer what is in flight, then disconnect everyone.
	deadline := time.Now().Add(drainTimeout)
	for a.pendingTotal() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	a.server.Close()
	// 3. Fsync the WAL.
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	if err := a.wal.Sync(ctx); err != nil && !errors.Is(err, wal.ErrFailed) {
		a.log.Error("agent: final WAL sync failed", "err", err)
	}
	cancel()
	// 4. Stop sync (and the registry watch and WAL recovery).
	stopSync()
	a.bg.Wait()
	if err := <-syncDone; err != nil && !errors.Is(err, context.Canceled) {
		a.log.Warn("agent: sync stopped with an error", "err", err)
	}
	a.saveHubAcked()
	// 5. Close the WAL (completes every pending commit callback), then let
	// the connection workers drain.
	if err := a.wal.Close(); err != nil {
		a.log.Error("agent: close WAL", "err", err)
	}
	a.conns.Range(func(_, v any) bool { v.(*conn).close(); return true })
	a.acks.Wait()
	hctx, hcancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = a.http.Shutdown(hctx)
	hcancel()
	a.endLife()
	a.log.Info("agent: stopped", "next_seq", a.wal.Next())
}

// lifetime is the context of blocking calls made for clients.
func (a *Agent) lifetime() context.Context { return a.life }

// pendingTotal counts publishes awaiting an answer on every connection.
func (a *Agent) pendingTotal() int {
	n := 0
	a.conns.Range(func(_, v any) bool { n += v.(*conn).pending(); return true })
	return n
}

// levelFilter drops records below min.
type levelFilter struct {
	h   slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.h.Enabled(ctx, l)
}
func (f levelFilter) Handle(ctx context.Context, r slog.Record) error { return f.h.Handle(ctx, r) }
func (f levelFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFilter{h: f.h.WithAttrs(as), min: f.min}
}
func (f levelFilter) WithGroup(n string) slog.Handler {
	return levelFilter{h: f.h.WithGroup(n), min: f.min}
}

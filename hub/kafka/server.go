package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/hub/group"
)

// Config configures the Kafka-protocol listener. The zero value means the
// defaults.
type Config struct {
	// Advertise is the host:port put in Metadata responses. Empty: the
	// address each client connected to, so loopback clients see a
	// loopback address and remote ones the interface they reached.
	Advertise string
	NodeID    int32 // the one broker's node ID (default 0)

	MaxRequestBytes int32 // largest Produce request frame (default 64 MiB)
	MaxOtherBytes   int32 // largest frame of any other request (default 1 MiB)
	MaxConnections  int   // concurrent connections (default 4096)
	MaxInflight     int   // requests read ahead of their responses per connection (default 8)
	IdleTimeout     time.Duration
	MaxFetchWait    time.Duration // cap on a Fetch's max wait (default 30s)

	// TLS, when set, makes the listener TLS-only.
	TLS *tls.Config
	// Users, when set, requires SASL authentication (PLAIN or
	// SCRAM-SHA-256) before any request but ApiVersions and the SASL ones.
	Users map[string]string
	// AllowPlaintextSASL permits SASL/PLAIN without TLS (tests on
	// loopback); off, PLAIN is refused on a plaintext listener.
	AllowPlaintextSASL bool

	Group  group.Config
	Logger *slog.Logger // nil: the broker's
}

func (c *Config) validate(b *hub.Broker) error {
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 64 << 20
	}
	if c.MaxOtherBytes <= 0 {
		c.MaxOtherBytes = 1 << 20
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = 4096
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 8
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.MaxFetchWait <= 0 {
		c.MaxFetchWait = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = b.Logger()
	}
	if c.Advertise != "" {
		host, port, err := net.SplitHostPort(c.Advertise)
		if err != nil || host == "" {
			return fmt.Errorf("kafka: advertise %q: want host:port", c.Advertise)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return fmt.Errorf("kafka: advertise %q: bad port", c.Advertise)
		}
	}
	for u := range c.Users {
		if u == "" {
			return errors.New("kafka: users: empty user name")
		}
	}
	return nil
}

// Server serves one Broker over the Kafka wire protocol.
type Server struct {
	b       *hub.Broker
	cfg     Config
	log     *slog.Logger
	groups  *group.Coordinator
	metrics *metrics
	scram   map[string]scramCreds // derived from cfg.Users at start

	connSem chan struct{} // bounds connections

	mu    sync.Mutex // protects conns
	conns map[*conn]struct{}
	wg    sync.WaitGroup
}

// New returns a server for b. It registers its metrics in b's registry.
func New(b *hub.Broker, cfg Config) (*Server, error) {
	if err := cfg.validate(b); err != nil {
		return nil, err
	}
	m, err := newMetrics(b.Registry())
	if err != nil {
		return nil, err
	}
	s := &Server{
		b: b, cfg: cfg, log: cfg.Logger, metrics: m,
		connSem: make(chan struct{}, cfg.MaxConnections),
		conns:   map[*conn]struct{}{},
	}
	s.groups = group.New(b, cfg.Group)
	s.scram = deriveSCRAM(cfg.Users)
	return s, nil
}

// Groups is the server's group coordinator.
func (s *Server) Groups() *group.Coordinator { return s.groups }

// Serve accepts connections on ln until ctx ends, then closes ln and every
// connection and waits for their goroutines. With Config.TLS the listener
// is wrapped in TLS.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	var err error
	for {
		nc, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				var ne net.Error
				if errors.As(aerr, &ne) && ne.Timeout() {
					continue
				}
				err = fmt.Errorf("kafka: accept: %w", aerr)
			}
			break
		}
		select {
		case s.connSem <- struct{}{}:
		default:
			s.log.Warn("kafka: connection limit reached; closing new connection", "remote", nc.RemoteAddr().String())
			s.metrics.refused.Inc()
			nc.Close()
			continue
		}
		c := newConn(s, nc)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve(ctx)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			<-s.connSem
		}()
	}
	cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.groups.Close()
	s.metrics.unregister()
	return err
}

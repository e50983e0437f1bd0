package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/syncproto"
	"github.com/edgelog/edgelog/syncproto/quictransport"
)

// Server is the hub's sync endpoint.
type Server struct {
	cfg     Config
	broker  *hub.Broker
	log     *slog.Logger
	ln      *quictransport.Listener
	decoder *syncproto.BatchDecoder
	metrics *metrics
	open    atomic.Int64 // connections being served

	mu       sync.Mutex          // protects sessions and closing
	sessions map[string]*session // by agent ID: the current session
	closing  bool

	wg sync.WaitGroup // connection goroutines
}

// New listens on cfg.Listen and returns a Server for b; Run serves.
func New(b *hub.Broker, cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = b.Logger()
	}
	if cfg.Registry == nil {
		cfg.Registry = b.Registry()
	}
	ln, err := quictransport.Listen(cfg.Listen, cfg.TLS, cfg.QUIC)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	dec, err := syncproto.NewBatchDecoder(cfg.Limits)
	if err != nil {
		ln.Close()
		return nil, err
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		ln.Close()
		dec.Close()
		return nil, fmt.Errorf("ingest: metrics: %w", err)
	}
	s := &Server{cfg: cfg, broker: b, log: cfg.Logger, ln: ln, decoder: dec, metrics: m, sessions: map[string]*session{}}
	if cfg.Deny != nil {
		cfg.Deny.OnChange(s.enforceDenyList)
	}
	return s, nil
}

// Addr is the UDP address agents connect to.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Sessions is the number of agents with an established session.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Run serves agents until ctx ends, then shuts down (see the package
// contract) and returns nil.
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("ingest: listening for agents", "addr", s.Addr().String())
	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		s.closing = true
		for _, sess := range s.sessions {
			sess.stop(syncproto.Errorf(syncproto.CodeShuttingDown, "hub shutting down"))
		}
		s.mu.Unlock()
		_ = s.ln.StopAccepting() // established connections drain first
	}()
	var err error
	for {
		var c *quictransport.Conn
		c, err = s.ln.Accept(ctx)
		if err != nil {
			break
		}
		if s.open.Load() >= int64(s.cfg.MaxSessions) {
			s.metrics.handshakes.WithLabelValues(syncproto.CodeShuttingDown.String()).Inc()
			c.Close(syncproto.Errorf(syncproto.CodeShuttingDown, "hub at capacity"))
			continue
		}
		s.open.Add(1)
		s.metrics.sessions.Inc()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.metrics.sessions.Dec()
			defer s.open.Add(-1)
			s.serve(life, c)
		}()
	}
	s.wg.Wait()
	stop()
	_ = s.ln.Close()
	s.decoder.Close()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("ingest: accept: %w", err)
}

// register makes sess the agent's session and returns the one it replaces.
// It fails when the server is shutting down.
func (s *Server) register(sess *session) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, syncproto.Errorf(syncproto.CodeShuttingDown, "hub shutting down")
	}
	old := s.sessions[sess.agentID]
	s.sessions[sess.agentID] = sess
	return old, nil
}

func (s *Server) unregister(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[sess.agentID] == sess {
		delete(s.sessions, sess.agentID)
	}
}

// enforceDenyList ends the sessions of agents the deny list now revokes.
func (s *Server) enforceDenyList() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sess := range s.sessions {
		if s.cfg.Deny.Denied(sess.id) {
			s.log.Warn("ingest: agent revoked; closing its session", "agent", sess.agentID)
			sess.stop(syncproto.Errorf(syncproto.CodeRevoked, "agent %q is revoked", sess.agentID))
		}
	}
}

// refusal reports why a handshake failed, for the metrics label.
func refusal(err error) string {
	var pe *syncproto.Error
	if errors.As(err, &pe) {
		return pe.Code.String()
	}
	return "transport"
}

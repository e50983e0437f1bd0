package ingest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgelog/edgelog/internal/pki"
	"github.com/edgelog/edgelog/syncproto"
	"github.com/edgelog/edgelog/syncproto/quictransport"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server. The zero value of each field means its
// default, except TLS, which is required.
type Config struct {
	// Listen is the UDP address for agents; default ":7070".
	Listen string
	// TLS is the hub's TLS configuration, normally
	// pki.Authority.ServerTLS() (client certificates required).
	TLS *tls.Config
	// Deny is the revocation list; nil revokes nobody.
	Deny *pki.DenyList
	// Limits are offered to every agent (defaults: syncproto.Limits).
	Limits syncproto.Limits
	// QUIC tunes keep-alives, idle timeout and receive windows.
	QUIC quictransport.Config
	// HandshakeTimeout bounds the time from connection to Welcome; default
	// 10s.
	HandshakeTimeout time.Duration
	// DrainTimeout bounds the wait for merges in flight at shutdown;
	// default 10s.
	DrainTimeout time.Duration
	// MaxSessions bounds concurrent connections; beyond it new ones are
	// closed with CodeShuttingDown. Default 10000.
	MaxSessions int
	// Logger defaults to the broker's; Registry to the broker's.
	Logger   *slog.Logger
	Registry *prometheus.Registry
}

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("ingest: invalid config")

func (c *Config) validate() error {
	if c.TLS == nil {
		return fmt.Errorf("%w: TLS is required", ErrConfig)
	}
	if c.HandshakeTimeout < 0 || c.DrainTimeout < 0 || c.MaxSessions < 0 {
		return fmt.Errorf("%w: negative timeout or session limit", ErrConfig)
	}
	if c.Listen == "" {
		c.Listen = ":7070"
	}
	if err := c.Limits.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = 10000
	}
	return nil
}

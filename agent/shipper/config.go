package shipper

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgelog/edgelog/internal/pki"
	"github.com/edgelog/edgelog/syncproto/quictransport"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Shipper. The zero value of each field means its
// default, except Hub and Credentials, which are required.
type Config struct {
	// Hub is the hub's sync address, host:port (UDP).
	Hub string
	// Credentials are the agent's bundle (pki.LoadBundle); the agent ID is
	// its certificate's common name.
	Credentials *pki.Bundle
	// QUIC tunes keep-alives, idle timeout and receive windows.
	QUIC quictransport.Config
	// HandshakeTimeout bounds dialing and the Hello/Welcome exchange;
	// default 10s.
	HandshakeTimeout time.Duration
	// BackoffBase and BackoffMax shape reconnection delays; defaults 1s
	// and 30s.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxUploadRate caps data bytes per second; 0 means unlimited.
	MaxUploadRate int64
	// DisableCompression sends every batch uncompressed.
	DisableCompression bool
	// DrainTimeout bounds the wait for acknowledgements at shutdown;
	// default 5s.
	DrainTimeout time.Duration
	// Logger defaults to slog.Default(); Registry to a new registry.
	Logger   *slog.Logger
	Registry *prometheus.Registry
}

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("shipper: invalid config")

func (c *Config) validate() error {
	switch {
	case c.Hub == "":
		return fmt.Errorf("%w: hub address is required", ErrConfig)
	case c.Credentials == nil:
		return fmt.Errorf("%w: credentials are required", ErrConfig)
	case c.HandshakeTimeout < 0 || c.BackoffBase < 0 || c.BackoffMax < 0 || c.DrainTimeout < 0:
		return fmt.Errorf("%w: negative duration", ErrConfig)
	case c.MaxUploadRate < 0:
		return fmt.Errorf("%w: negative upload rate", ErrConfig)
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = time.Second
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 30 * time.Second
	}
	if c.BackoffMax < c.BackoffBase {
		return fmt.Errorf("%w: backoff max %v below base %v", ErrConfig, c.BackoffMax, c.BackoffBase)
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	return nil
}

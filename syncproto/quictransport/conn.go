package quictransport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/edgelog/edgelog/internal/pki"
	"github.com/edgelog/edgelog/syncproto"
	"github.com/quic-go/quic-go"
)

// ALPN is the application protocol negotiated in TLS.
const ALPN = "edgelog-sync/1"

// Config tunes QUIC. The zero value of each field means its default.
type Config struct {
	// KeepAlivePeriod is the interval of QUIC keep-alive packets. Default
	// 10s; negative disables them.
	KeepAlivePeriod time.Duration
	// MaxIdleTimeout closes a connection that heard nothing for this long
	// (the smaller of both sides' values applies). Default 30s.
	MaxIdleTimeout time.Duration
	// HandshakeTimeout bounds connection setup. Default 10s.
	HandshakeTimeout time.Duration
	// MaxStreamWindow and MaxConnWindow bound the receive flow-control
	// windows, which is what a peer can make this side buffer. Defaults
	// 8 MiB and 12 MiB.
	MaxStreamWindow uint64
	MaxConnWindow   uint64
	// StatelessResetKey (hub side) lets a restarted hub tell agents at once
	// that their old connections are gone (QUIC stateless reset), instead
	// of leaving them to time out. It must be secret and the same across
	// restarts. Default: derived from the private key of the hub's TLS
	// certificate.
	StatelessResetKey *[32]byte
	// ZeroRTT (agent side) sends the first bytes of a resumed connection as
	// 0-RTT data, saving one round trip per reconnection. Off by default:
	// quic-go (v0.65, upstream issue 4303) reads the peer's transport
	// parameters unsynchronised when a stream is opened before the
	// handshake completes, a data race the race detector reports. With it
	// off, Dial returns once the handshake is complete (a resumed session
	// still skips the certificate exchange). The hub always accepts 0-RTT.
	ZeroRTT bool
}

func (c Config) quic(server bool) *quic.Config {
	if c.KeepAlivePeriod == 0 {
		c.KeepAlivePeriod = 10 * time.Second
	}
	if c.KeepAlivePeriod < 0 {
		c.KeepAlivePeriod = 0
	}
	if c.MaxIdleTimeout == 0 {
		c.MaxIdleTimeout = 30 * time.Second
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.MaxStreamWindow == 0 {
		c.MaxStreamWindow = 8 << 20
	}
	if c.MaxConnWindow == 0 {
		c.MaxConnWindow = 12 << 20
	}
	q := &quic.Config{
		HandshakeIdleTimeout:       c.HandshakeTimeout,
		MaxIdleTimeout:             c.MaxIdleTimeout,
		KeepAlivePeriod:            c.KeepAlivePeriod,
		MaxStreamReceiveWindow:     c.MaxStreamWindow,
		MaxConnectionReceiveWindow: c.MaxConnWindow,
		// Agents open one control and one data stream per connection; the
		// hub opens none.
		MaxIncomingStreams:    -1,
		MaxIncomingUniStreams: -1,
	}
	if server {
		q.Allow0RTT = true
		q.MaxIncomingStreams = 2
		q.MaxIncomingUniStreams = 2
	}
	return q
}

// Conn is one agent↔hub connection.
type Conn struct {
	qc *quic.Conn
}

// OpenControl opens the control stream (agent side).
func (c *Conn) OpenControl(ctx context.Context) (*Stream, error) {
	s, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, MapError(err)
	}
	s.SetPriority(0, false)
	return &Stream{s: s}, nil
}

// AcceptControl accepts the control stream (hub side).
func (c *Conn) AcceptControl(ctx context.Context) (*Stream, error) {
	s, err := c.qc.AcceptStream(ctx)
	if err != nil {
		return nil, MapError(err)
	}
	s.SetPriority(0, false)
	return &Stream{s: s}, nil
}

// OpenData opens a data stream (agent side).
func (c *Conn) OpenData(ctx context.Context) (*SendStream, error) {
	s, err := c.qc.OpenUniStreamSync(ctx)
	if err != nil {
		return nil, MapError(err)
	}
	s.SetPriority(4, false)
	return &SendStream{s: s}, nil
}

// AcceptData accepts a data stream (hub side).
func (c *Conn) AcceptData(ctx context.Context) (*RecvStream, error) {
	s, err := c.qc.AcceptUniStream(ctx)
	if err != nil {
		return nil, MapError(err)
	}
	return &RecvStream{s: s}, nil
}

// HandshakeComplete waits until the TLS handshake has completed (on the hub:
// the client certificate is verified).
func (c *Conn) HandshakeComplete(ctx context.Context) error {
	select {
	case <-c.qc.HandshakeComplete():
		return nil
	case <-c.qc.Context().Done():
		return MapError(context.Cause(c.qc.Context()))
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Authenticate completes the handshake and returns the peer agent's
// verified identity. A peer on deny is refused: the connection is closed
// with CodeRevoked and ErrRevoked returned. deny may be nil.
func (c *Conn) Authenticate(ctx context.Context, deny *pki.DenyList) (pki.Identity, error) {
	if err := c.HandshakeComplete(ctx); err != nil {
		return pki.Identity{}, err
	}
	id, ok := pki.PeerIdentity(c.qc.ConnectionState().TLS)
	if !ok {
		err := syncproto.Errorf(syncproto.CodeUnauthorized, "no client certificate")
		c.Close(err)
		return pki.Identity{}, err
	}
	if deny != nil && deny.Denied(id) {
		err := syncproto.Errorf(syncproto.CodeRevoked, "agent %q is revoked", id.AgentID)
		c.Close(err)
		return id, err
	}
	return id, nil
}

// Used0RTT reports whether the connection resumed with 0-RTT data. It is
// false until the handshake has completed (quic-go's connection state is
// only safe to read from then on).
func (c *Conn) Used0RTT() bool {
	select {
	case <-c.qc.HandshakeComplete():
		return c.qc.ConnectionState().Used0RTT
	default:
		return false
	}
}

// RemoteAddr is the peer's current address (it changes when the peer
// migrates).
func (c *Conn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

// LocalAddr is this side's address.
func (c *Conn) LocalAddr() net.Addr { return c.qc.LocalAddr() }

// Done is closed when the connection ends.
func (c *Conn) Done() <-chan struct{} { return c.qc.Context().Done() }

// Err is why the connection ended (nil while it is open), mapped like
// MapError.
func (c *Conn) Err() error {
	if c.qc.Context().Err() == nil {
		return nil
	}
	return MapError(context.Cause(c.qc.Context()))
}

// Close closes the connection with the protocol code of err (CodeNone for
// nil) and its message. Closing twice is harmless.
func (c *Conn) Close(err error) error {
	msg := ""
	if err != nil {
		msg = syncproto.NewErrorFrame(err).Message
	}
	return c.qc.CloseWithError(quic.ApplicationErrorCode(syncproto.CodeOf(err)), msg)
}

// Err0RTTRejected is returned by stream operations of a resumed connection
// whose 0-RTT data the hub refused (for example a restarted hub that no
// longer knows the session ticket). Call NextConnection, then open the
// streams again and resend what was written.
var Err0RTTRejected = errors.New("quictransport: 0-RTT data rejected")

// NextConnection waits for the full handshake after a 0-RTT rejection and
// makes the connection usable again.
func (c *Conn) NextConnection(ctx context.Context) error {
	qc, err := c.qc.NextConnection(ctx)
	if err != nil {
		return MapError(err)
	}
	c.qc = qc
	return nil
}

// MapError turns a QUIC application close into a *syncproto.Error with the
// same code; other errors are returned wrapped with a package prefix.
func MapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, quic.Err0RTTRejected) {
		return Err0RTTRejected
	}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) {
		return &syncproto.Error{Code: syncproto.Code(ae.ErrorCode), Message: ae.ErrorMessage, Remote: ae.Remote}
	}
	var ie *quic.IdleTimeoutError
	if errors.As(err, &ie) {
		return fmt.Errorf("quictransport: %w: %w", syncproto.Errorf(syncproto.CodeTimeout, "QUIC idle timeout"), err)
	}
	return fmt.Errorf("quictransport: %w", err)
}

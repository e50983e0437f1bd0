package quictransport

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"

	"github.com/quic-go/quic-go"
)

// Listener accepts agent connections on one UDP socket.
type Listener struct {
	tr *quic.Transport
	pc net.PacketConn
	ln *quic.EarlyListener
}

// Listen listens on a UDP address ("host:port"; port 0 picks one).
// tlsConf is typically pki.Authority.ServerTLS(); ALPN is set here.
func Listen(addr string, tlsConf *tls.Config, cfg Config) (*Listener, error) {
	udp, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("quictransport: %w", err)
	}
	pc, err := net.ListenUDP("udp", udp)
	if err != nil {
		return nil, fmt.Errorf("quictransport: %w", err)
	}
	l, err := ListenPacket(pc, tlsConf, cfg)
	if err != nil {
		pc.Close()
		return nil, err
	}
	return l, nil
}

// ListenPacket listens on an existing socket, which the Listener closes.
func ListenPacket(pc net.PacketConn, tlsConf *tls.Config, cfg Config) (*Listener, error) {
	tr := &quic.Transport{Conn: pc}
	key := cfg.StatelessResetKey
	if key == nil {
		key = deriveResetKey(tlsConf)
	}
	if key != nil {
		k := quic.StatelessResetKey(*key)
		tr.StatelessResetKey = &k
	}
	ln, err := tr.ListenEarly(withALPN(tlsConf), cfg.quic(true))
	if err != nil {
		return nil, fmt.Errorf("quictransport: %w", err)
	}
	return &Listener{tr: tr, pc: pc, ln: ln}, nil
}

// Accept returns the next connection, possibly before its handshake has
// completed: call Conn.Authenticate before trusting it.
func (l *Listener) Accept(ctx context.Context) (*Conn, error) {
	qc, err := l.ln.Accept(ctx)
	if err != nil {
		return nil, MapError(err)
	}
	return &Conn{qc: qc}, nil
}

// Addr is the UDP address listened on.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// StopAccepting makes Accept fail; established connections carry on.
func (l *Listener) StopAccepting() error { return l.ln.Close() }

// Close stops accepting, closes every connection and the socket.
func (l *Listener) Close() error {
	err := l.ln.Close()
	if e := l.tr.Close(); err == nil {
		err = e
	}
	if e := l.pc.Close(); err == nil {
		err = e
	}
	return err
}

// Dialer connects an agent to hubs. It keeps a TLS session cache so that
// reconnections resume their TLS session (with 0-RTT data if
// Config.ZeroRTT). Safe for concurrent use.
type Dialer struct {
	tls   *tls.Config
	cfg   *quic.Config
	early bool
}

// NewDialer returns a Dialer. tlsConf is typically pki.Bundle.ClientTLS();
// ALPN and a session cache are added here.
func NewDialer(tlsConf *tls.Config, cfg Config) *Dialer {
	t := withALPN(tlsConf)
	if t.ClientSessionCache == nil {
		t.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	}
	return &Dialer{tls: t, cfg: cfg.quic(false), early: cfg.ZeroRTT}
}

// Dial connects to a hub at addr ("host:port") from a fresh UDP socket.
// It returns once the handshake is complete, or, with Config.ZeroRTT, as
// soon as streams can be opened: with a resumed session that is before the
// handshake completes, and the first bytes written travel as 0-RTT data.
func (d *Dialer) Dial(ctx context.Context, addr string) (*Conn, error) {
	dial := quic.DialAddr
	if d.early {
		dial = quic.DialAddrEarly
	}
	qc, err := dial(ctx, addr, d.tls, d.cfg)
	if err != nil {
		return nil, MapError(err)
	}
	return &Conn{qc: qc}, nil
}

// deriveResetKey derives a stateless reset key from the private key of the
// first certificate of c, or returns nil if there is none to derive from.
func deriveResetKey(c *tls.Config) *[32]byte {
	if c == nil || len(c.Certificates) == 0 || c.Certificates[0].PrivateKey == nil {
		return nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.Certificates[0].PrivateKey)
	if err != nil {
		return nil
	}
	mac := hmac.New(sha256.New, der)
	mac.Write([]byte("edgelog quic stateless reset key"))
	var k [32]byte
	copy(k[:], mac.Sum(nil))
	return &k
}

func withALPN(c *tls.Config) *tls.Config {
	c = c.Clone()
	c.NextProtos = []string{ALPN}
	c.MinVersion = tls.VersionTLS13
	return c
}

package agent

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// burstSize is how much a connection reads from its socket at once, into a
// buffer borrowed from its listener's pool while it holds unread bytes.
const burstSize = 16 << 10

// tcpListener is an MQTT listener over TCP (or TLS) like mochi's own,
// except that its connections are burstConns: each connection's buffered
// reader (Config.ReadBuffer, allocated for the connection's lifetime) can
// stay small for idle devices while a pipelining publisher's burst still
// takes one read system call.
type tcpListener struct {
	id, address string
	tlsConfig   *tls.Config
	pool        sync.Pool // *[]byte of burstSize
	limits      connLimits

	ln  net.Listener // set by Init, before Serve and Close
	end atomic.Bool
}

var _ listeners.Listener = (*tcpListener)(nil)

func newTCPListener(id, address string, tlsConfig *tls.Config, limits connLimits) *tcpListener {
	l := &tcpListener{id: id, address: address, tlsConfig: tlsConfig, limits: limits}
	l.pool.New = func() any { b := make([]byte, burstSize); return &b }
	return l
}

func (l *tcpListener) ID() string       { return l.id }
func (l *tcpListener) Protocol() string { return "tcp" }

func (l *tcpListener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.address
}

// Init binds the address; TLS, if configured, runs over the burstConn.
func (l *tcpListener) Init(*slog.Logger) error {
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return err
	}
	l.ln = burstListener{Listener: ln, pool: &l.pool, limits: l.limits}
	if l.tlsConfig != nil {
		l.ln = tls.NewListener(l.ln, l.tlsConfig)
	}
	return nil
}

// Serve hands each accepted connection to mochi on its own goroutine until
// the listener is closed.
func (l *tcpListener) Serve(establish listeners.EstablishFn) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		if l.end.Load() {
			c.Close()
			return
		}
		go func() { _ = establish(l.id, c) }()
	}
}

// Close stops accepting and closes the listener's clients (once).
func (l *tcpListener) Close(closeClients listeners.CloseFn) {
	if l.end.CompareAndSwap(false, true) {
		closeClients(l.id)
	}
	if l.ln != nil {
		_ = l.ln.Close()
	}
}

// burstListener makes burstConns.
type burstListener struct {
	net.Listener
	pool   *sync.Pool
	limits connLimits
}

func (l burstListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	bc := &burstConn{Conn: c, pool: l.pool, limits: l.limits}
	if sc, ok := c.(syscall.Conn); ok && rawReads {
		bc.raw, _ = sc.SyscallConn()
	}
	// mochi sets no deadline before CONNECT has been read (it sets its
	// keep-alive deadline after it): a client gets the connect timeout to
	// finish the TLS handshake and send CONNECT.
	_ = c.SetReadDeadline(time.Now().Add(l.limits.connectTimeout))
	return bc, nil
}

// burstConn reads what the socket has received, up to burstSize at once,
// into a buffer borrowed from the pool at the moment bytes are there (never
// while waiting for them) and returned as soon as they have been read: an
// idle connection holds none, and a pipelining client's burst of publishes
// takes one read system call however small the caller's buffer is. Read is
// called by one goroutine (the connection's reader).
type burstConn struct {
	net.Conn
	raw    syscall.RawConn // nil: plain reads
	pool   *sync.Pool
	buf    *[]byte // borrowed; (*buf)[r:w] are unread (nil: none)
	r, w   int
	limits connLimits
	// writeDeadline is a deadline set with SetWriteDeadline (zero: none).
	// Written and read only by writers, under mochi's client lock (or by
	// tls.Conn's Close, which holds the TLS write lock).
	writeDeadline time.Time
}

func (c *burstConn) Read(p []byte) (int, error) {
	if c.buf == nil {
		if c.raw == nil || len(p) >= burstSize {
			return c.Conn.Read(p)
		}
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, (*c.buf)[c.r:c.w])
	c.r += n
	if c.r == c.w {
		c.pool.Put(c.buf)
		c.buf = nil
	}
	return n, nil
}

// fill waits until the socket has bytes (or the read deadline passes),
// then reads them into a borrowed buffer.
func (c *burstConn) fill() error {
	var (
		n       int
		readErr error
	)
	err := c.raw.Read(func(fd uintptr) bool {
		b := c.pool.Get().(*[]byte)
		n, readErr = readNow(fd, *b)
		if n > 0 {
			c.buf, c.r, c.w = b, 0, n
			return true
		}
		c.pool.Put(b)
		return !errors.Is(readErr, syscall.EAGAIN) // nothing yet: wait for readiness
	})
	switch {
	case err != nil:
		return &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	case readErr != nil:
		return &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", readErr)}
	case n == 0:
		return io.EOF
	}
	return nil
}

// connLimits are the deadlines of a listener's connections (from Config)
// and the counter of writes that hit the write timeout.
type connLimits struct {
	writeTimeout   time.Duration
	connectTimeout time.Duration
	writeTimeouts  *atomic.Int64
}

// Write writes p. Once the connection has taken no bytes for the write
// timeout (a peer that stopped reading) it closes the connection, which
// ends the client (mochi ignores write errors; its read then fails). A
// slow peer that keeps taking bytes is never cut off. A deadline set with
// SetWriteDeadline (tls.Conn sets one to close) applies if it is earlier.
// Writes to one connection are serialised by mochi's client lock.
func (c *burstConn) Write(p []byte) (int, error) {
	written := 0
	for {
		deadline := time.Now().Add(c.limits.writeTimeout)
		explicit := !c.writeDeadline.IsZero() && c.writeDeadline.Before(deadline)
		if explicit {
			deadline = c.writeDeadline
		}
		_ = c.Conn.SetWriteDeadline(deadline)
		n, err := c.Conn.Write(p[written:])
		written += n
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || explicit {
			return written, err
		}
		if n == 0 {
			c.limits.writeTimeouts.Add(1)
			_ = c.Conn.Close()
			return written, err
		}
	}
}

// SetDeadline sets only the read deadline: mochi refreshes its keep-alive
// deadline with it before reading every packet, which would otherwise
// replace the write timeout of a write in progress, so that a stalled
// subscriber that keeps sending would never be cut off.
func (c *burstConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// SetWriteDeadline records t for the following writes (see Write).
func (c *burstConn) SetWriteDeadline(t time.Time) error {
	c.writeDeadline = t
	return nil
}

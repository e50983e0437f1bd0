package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// respondFunc completes a request on the connection's writer goroutine and
// returns its response (nil: send nothing, as for acks=0 Produce). Requests
// of a connection are decoded and started in order on its reader goroutine
// and answered in order by its writer, so a request's slow part (an fsync,
// a long-poll, a rebalance) never reorders responses but does not stop the
// next request from being read.
type respondFunc func(ctx context.Context) kmsg.Response

// pending is one request waiting for its response to be written.
type pending struct {
	h       header
	api     string
	start   time.Time
	respond respondFunc
	raw     []byte // a pre-framed answer, written as is (instead of respond)
	close   bool   // close the connection after raw
}

// conn is one client connection: a reader goroutine (serve) and a writer
// goroutine (write), joined by the bounded queue.
type conn struct {
	s      *Server
	nc     net.Conn
	remote string
	host   string // advertised host and port for this connection
	port   int32
	queue  chan pending
	sasl   saslState // touched only by the reader goroutine
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, remote: nc.RemoteAddr().String(), queue: make(chan pending, s.cfg.MaxInflight)}
	adv := s.cfg.Advertise
	if adv == "" {
		adv = nc.LocalAddr().String()
	}
	host, port, _ := net.SplitHostPort(adv)
	p, _ := strconv.Atoi(port)
	c.host, c.port = host, int32(p)
	return c
}

// serve reads and starts requests until the connection ends.
func (c *conn) serve(ctx context.Context) {
	s := c.s
	s.metrics.connections.Inc()
	defer s.metrics.connections.Dec()
	ctx, cancel := context.WithCancel(ctx)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.write(ctx)
	}()
	defer func() {
		close(c.queue)
		<-writerDone
		cancel()
		c.nc.Close()
	}()
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		c.nc.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		if c.sasl.raw {
			// SaslHandshake v0: the exchange goes on in bare
			// length-prefixed tokens, not Kafka requests.
			p := c.rawSASLStep(br)
			select {
			case c.queue <- p:
			case <-ctx.Done():
				return
			}
			if p.close {
				return
			}
			continue
		}
		frame, err := c.readRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
				s.log.Info("kafka: closing connection", "remote", c.remote, "err", err)
				s.metrics.badRequests.Inc()
			}
			return
		}
		p, ok := c.start(ctx, frame)
		select {
		case c.queue <- p:
		case <-ctx.Done():
			return
		}
		if !ok {
			return
		}
	}
}

// readRequest reads one frame, choosing its size limit from the API key
// before the body is allocated: only Produce may use MaxRequestBytes.
func (c *conn) readRequest(br *bufio.Reader) ([]byte, error) {
	peek, err := br.Peek(6)
	if err != nil {
		if len(peek) == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, err
	}
	limit := c.s.cfg.MaxOtherBytes
	if int16(binary.BigEndian.Uint16(peek[4:])) == produceKey {
		limit = c.s.cfg.MaxRequestBytes
	}
	return readFrame(br, limit)
}

// errUnsupported marks a request for an API key or version not served.
var errUnsupported = errors.New("kafka: unsupported API key or version")

// decode parses a request frame: header, served API, and body. An
// unsupported key or version returns errUnsupported with the header; any
// other error means the frame is malformed.
func decode(frame []byte) (header, api, kmsg.Request, error) {
	h, req, body, err := parseHeader(frame)
	if err != nil {
		return h, api{}, nil, err
	}
	a, served := apis[h.key]
	if req == nil || !served || h.version < a.min || h.version > a.max {
		return h, a, nil, errUnsupported
	}
	if h.key == produceKey {
		if err := checkProduceShape(body, h.version, h.flexible); err != nil {
			return h, a, nil, err
		}
	}
	if err := req.ReadFrom(body); err != nil {
		return h, a, nil, fmt.Errorf("%w: %s v%d: %v", ErrBadFrame, a.name, h.version, err)
	}
	return h, a, req, nil
}

// start decodes a request and runs the first part of its handler. ok is
// false when the connection must close after the returned answer.
func (c *conn) start(ctx context.Context, frame []byte) (p pending, ok bool) {
	h, a, req, err := decode(frame)
	if errors.Is(err, errUnsupported) {
		p := c.unsupported(h)
		return p, !p.close // the ApiVersions downgrade answer keeps the connection
	}
	if err != nil {
		c.s.log.Info("kafka: malformed request", "remote", c.remote, "err", err)
		c.s.metrics.badRequests.Inc()
		return pending{close: true}, false
	}
	if !c.sasl.authenticated && c.s.cfg.Users != nil && !a.preAuth {
		c.s.log.Info("kafka: request before SASL authentication", "remote", c.remote, "api", a.name)
		return pending{close: true}, false
	}
	p = pending{h: h, api: a.name, start: time.Now()}
	p.respond = a.handle(ctx, c, h, req)
	return p, !c.sasl.failed
}

// unsupported answers an API key or version the hub does not serve. For
// ApiVersions this is the standard downgrade answer (a v0 response with
// UNSUPPORTED_VERSION and the supported ranges) and the connection stays
// open; anything else gets the correlation ID and UNSUPPORTED_VERSION, then
// the connection closes, since its body cannot be decoded.
func (c *conn) unsupported(h header) pending {
	c.s.metrics.unsupported.Inc()
	if h.key == apiVersionsKey {
		resp := apiVersionsResponse(0)
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		h.version, h.flexible = 0, false
		return pending{h: h, api: "ApiVersions", start: time.Now(), respond: func(context.Context) kmsg.Response { return resp }}
	}
	c.s.log.Info("kafka: unsupported API", "remote", c.remote, "key", h.key, "version", h.version)
	return pending{raw: appendErrorFrame(nil, h, kerr.UnsupportedVersion.Code), close: true}
}

// write answers queued requests in order until the queue closes.
func (c *conn) write(ctx context.Context) {
	var buf []byte
	broken := false
	for p := range c.queue {
		if broken {
			continue
		}
		if p.raw != nil || p.close {
			if len(p.raw) > 0 {
				c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
				if _, err := c.nc.Write(p.raw); err != nil {
					p.close = true
				}
			}
			if p.close {
				// The reader stops after queueing this: close so the
				// peer sees the end.
				c.nc.Close()
				broken = true
			}
			continue
		}
		resp := p.respond(ctx)
		c.s.metrics.observe(p.api, time.Since(p.start))
		if resp == nil {
			continue
		}
		resp.SetVersion(p.h.version)
		buf = appendResponse(buf[:0], p.h, resp)
		c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		if _, err := c.nc.Write(buf); err != nil {
			c.nc.Close()
			broken = true
		}
		if cap(buf) > 8<<20 {
			buf = nil // do not pin a huge fetch buffer
		}
	}
}

package quictransport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/netchaos"
	"github.com/edgelog/edgelog/internal/pki"
	"github.com/edgelog/edgelog/syncproto"
	"github.com/quic-go/quic-go"
)

type testHub struct {
	ca   *pki.Authority
	ln   *Listener
	deny *pki.DenyList
	// accepted receives every connection that authenticated, with the
	// first control frame read from it; refused receives the errors.
	accepted chan accepted
	refused  chan error
}

type accepted struct {
	conn  *Conn
	id    pki.Identity
	ctl   *Stream
	hello syncproto.Hello
}

func newHub(t *testing.T, cfg Config) *testHub {
	t.Helper()
	ca, err := pki.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("127.0.0.1:0", ca.ServerTLS(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &testHub{ca: ca, ln: ln, deny: &pki.DenyList{}, accepted: make(chan accepted, 16), refused: make(chan error, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			wg.Go(func() { h.serve(ctx, c) })
		}
	})
	t.Cleanup(func() { cancel(); ln.Close(); wg.Wait() })
	return h
}

// serve reads the Hello (possibly 0-RTT data), then authenticates, as the
// hub's ingest does.
func (h *testHub) serve(ctx context.Context, c *Conn) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ctl, err := c.AcceptControl(ctx)
	if err != nil {
		h.refused <- err
		return
	}
	typ, body, err := syncproto.ReadFrame(ctl, syncproto.MaxControlFrame)
	if err != nil {
		h.refused <- err
		return
	}
	id, err := c.Authenticate(ctx, h.deny)
	if err != nil {
		h.refused <- err
		return
	}
	hello, err := syncproto.DecodeHello(body)
	if err != nil || typ != syncproto.TypeHello {
		h.refused <- err
		return
	}
	h.accepted <- accepted{conn: c, id: id, ctl: ctl, hello: hello}
}

func (h *testHub) bundle(t *testing.T, ca *pki.Authority, id string) *tls.Config {
	t.Helper()
	b, err := ca.MintAgent(id, 0)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := pki.ParseBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	return bundle.ClientTLS()
}

func helloFrame(t *testing.T, id string) []byte {
	b, err := syncproto.EncodeControl(syncproto.Hello{AgentID: id, Versions: []uint16{1}, Epoch: "e", First: 1, Next: 1})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// connect dials addr, opens the control stream and sends a Hello.
func connect(t *testing.T, d *Dialer, addr, id string) (*Conn, *Stream, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := d.Dial(ctx, addr)
	if err != nil {
		return nil, nil, err
	}
	ctl, err := c.OpenControl(ctx)
	if err != nil {
		c.Close(nil)
		return nil, nil, err
	}
	if _, err := ctl.Write(helloFrame(t, id)); err != nil {
		c.Close(nil)
		return nil, nil, err
	}
	t.Cleanup(func() { c.Close(nil) })
	return c, ctl, nil
}

func waitAccepted(t *testing.T, h *testHub) accepted {
	t.Helper()
	select {
	case a := <-h.accepted:
		return a
	case err := <-h.refused:
		t.Fatalf("hub refused: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no connection accepted in 30s")
	}
	return accepted{}
}

// expectRefused checks the agent's connection fails and the hub never
// authenticated it.
func expectRefused(t *testing.T, h *testHub, c *Conn, ctl *Stream, want error) {
	t.Helper()
	if ctl != nil {
		_ = ctl.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err := ctl.Read(make([]byte, 1))
		if err == nil {
			t.Fatal("refused agent read data")
		}
		if want != nil && !errors.Is(err, want) {
			t.Fatalf("agent sees %v, want %v", err, want)
		}
	}
	select {
	case a := <-h.accepted:
		t.Fatalf("hub authenticated %+v", a.id)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestAuthentication(t *testing.T) {
	h := newHub(t, Config{})
	addr := h.ln.Addr().String()

	good := NewDialer(h.bundle(t, h.ca, "gw-1"), Config{})
	_, _, err := connect(t, good, addr, "gw-1")
	if err != nil {
		t.Fatal(err)
	}
	a := waitAccepted(t, h)
	if a.id.AgentID != "gw-1" || a.hello.AgentID != "gw-1" {
		t.Fatalf("identity %+v hello %+v", a.id, a.hello)
	}

	t.Run("no certificate", func(t *testing.T) {
		cfg := h.bundle(t, h.ca, "gw-2")
		cfg.Certificates = nil
		c, ctl, err := connect(t, NewDialer(cfg, Config{}), addr, "gw-2")
		if err == nil {
			expectRefused(t, h, c, ctl, nil)
		}
	})
	t.Run("certificate from another CA", func(t *testing.T) {
		other, err := pki.LoadOrCreate(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cfg := h.bundle(t, other, "gw-3")
		cfg.RootCAs = h.ca.Pool() // it trusts the hub; the hub does not trust it
		c, ctl, err := connect(t, NewDialer(cfg, Config{}), addr, "gw-3")
		if err == nil {
			expectRefused(t, h, c, ctl, nil)
		}
	})
	t.Run("hub from another CA", func(t *testing.T) {
		other, _ := pki.LoadOrCreate(t.TempDir())
		cfg := h.bundle(t, h.ca, "gw-4")
		cfg.RootCAs = other.Pool()
		if c, _, err := connect(t, NewDialer(cfg, Config{}), addr, "gw-4"); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.HandshakeComplete(ctx); err == nil {
				t.Fatal("agent completed a handshake with an untrusted hub")
			}
		}
	})
	t.Run("revoked", func(t *testing.T) {
		if err := h.deny.Set([]string{"gw-5"}); err != nil {
			t.Fatal(err)
		}
		c, ctl, err := connect(t, NewDialer(h.bundle(t, h.ca, "gw-5"), Config{}), addr, "gw-5")
		if err != nil {
			t.Fatal(err)
		}
		// Earlier refusals may still be reported; wait for this one.
		for revoked := false; !revoked; {
			select {
			case err := <-h.refused:
				revoked = errors.Is(err, syncproto.ErrRevoked)
			case <-time.After(30 * time.Second):
				t.Fatal("revoked agent not refused")
			}
		}
		expectRefused(t, h, c, ctl, syncproto.ErrRevoked)
		var se *syncproto.Error
		if !errors.As(c.Err(), &se) || !se.Remote || se.Code != syncproto.CodeRevoked {
			t.Fatalf("agent's connection error %v", c.Err())
		}
	})
}

func TestCloseCodes(t *testing.T) {
	h := newHub(t, Config{})
	c, ctl, err := connect(t, NewDialer(h.bundle(t, h.ca, "gw-1"), Config{}), h.ln.Addr().String(), "gw-1")
	if err != nil {
		t.Fatal(err)
	}
	a := waitAccepted(t, h)
	a.conn.Close(syncproto.Errorf(syncproto.CodeShuttingDown, "hub stopping"))
	_ = ctl.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = ctl.Read(make([]byte, 1))
	var se *syncproto.Error
	if !errors.Is(err, syncproto.ErrShuttingDown) || !errors.As(err, &se) || !se.Remote || se.Message != "hub stopping" {
		t.Fatalf("agent read: %v", err)
	}
	<-c.Done()
	if !errors.Is(c.Err(), syncproto.ErrShuttingDown) {
		t.Fatalf("Err: %v", c.Err())
	}
	if a.conn.Err() == nil {
		t.Fatal("hub's closed connection has no error")
	}
}

// pipe is an agent and hub connected through a chaos relay, with control
// and data streams open.
type pipe struct {
	relay    *netchaos.Relay
	agent    *Conn
	agentCtl *Stream
	data     *SendStream
	hub      accepted
	hubData  *RecvStream
}

func newPipe(t *testing.T, cfg Config, imp netchaos.Impairment) *pipe {
	t.Helper()
	h := newHub(t, cfg)
	relay, err := netchaos.New(netchaos.Config{Target: h.ln.Addr().String(), Up: imp, Down: imp, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	c, ctl, err := connect(t, NewDialer(h.bundle(t, h.ca, "gw-1"), cfg), relay.Addr().String(), "gw-1")
	if err != nil {
		t.Fatal(err)
	}
	a := waitAccepted(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data, err := c.OpenData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := data.Write([]byte{0}); err != nil { // a stream is announced by its first byte
		t.Fatal(err)
	}
	hd, err := a.conn.AcceptData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(hd, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	return &pipe{relay: relay, agent: c, agentCtl: ctl, data: data, hub: a, hubData: hd}
}

// transfer sends n random bytes over the data stream while run executes,
// and checks they arrive intact.
func (p *pipe) transfer(t *testing.T, n int, during func()) {
	t.Helper()
	src := make([]byte, n)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	errc := make(chan error, 1)
	go func() {
		_, err := p.data.Write(src)
		if err == nil {
			err = p.data.Close()
		}
		errc <- err
	}()
	if during != nil {
		during()
	}
	_ = p.hubData.SetReadDeadline(time.Now().Add(60 * time.Second))
	got, err := io.ReadAll(p.hubData)
	if err != nil {
		t.Fatalf("hub read: %v after %d bytes", err, len(got))
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(src) {
		t.Fatalf("received %d bytes, not what was sent (%d)", len(got), n)
	}
}

func TestLossyLinkWithBlackout(t *testing.T) {
	p := newPipe(t, Config{}, netchaos.Impairment{Loss: 0.05, Delay: 2 * time.Millisecond, Jitter: 2 * time.Millisecond})
	p.transfer(t, 4<<20, func() {
		time.Sleep(100 * time.Millisecond)
		p.relay.Blackout(2 * time.Second)
	})
	st := p.relay.Stats()
	if st.Up.Lost == 0 || st.Up.Blackout == 0 {
		t.Fatalf("the link was not impaired: %+v", st)
	}
}

func TestMigration(t *testing.T) {
	p := newPipe(t, Config{}, netchaos.Impairment{})
	before := p.hub.conn.RemoteAddr().String()
	p.transfer(t, 2<<20, func() {
		time.Sleep(50 * time.Millisecond)
		if err := p.relay.Rebind(); err != nil {
			t.Error(err)
		}
	})
	// The same connection carries on from the new address.
	if _, err := p.agentCtl.Write(helloFrame(t, "after")); err != nil {
		t.Fatal(err)
	}
	_ = p.hub.ctl.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, _, err := syncproto.ReadFrame(p.hub.ctl, syncproto.MaxControlFrame); err != nil {
		t.Fatal(err)
	}
	if after := p.hub.conn.RemoteAddr().String(); after == before {
		t.Fatalf("hub still sees the agent at %s", before)
	}
	if p.hub.conn.Err() != nil || p.agent.Err() != nil {
		t.Fatal("migration closed the connection")
	}
}

// TestHeartbeatsUnderSaturation saturates a rate-capped link with data and
// checks heartbeats keep flowing both ways on the control stream, never
// silent for as long as the protocol's liveness timeout.
func TestHeartbeatsUnderSaturation(t *testing.T) {
	const interval = time.Second
	p := newPipe(t, Config{}, netchaos.Impairment{RateBytes: 1 << 20, QueueBytes: 128 << 10})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var sent, received int64
	// Data: write as fast as the link allows; the hub drains.
	wg.Go(func() {
		buf := bytes.Repeat([]byte{7}, 64<<10)
		for ctx.Err() == nil {
			_ = p.data.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			n, _ := p.data.Write(buf)
			sent += int64(n)
		}
	})
	wg.Go(func() {
		buf := make([]byte, 64<<10)
		for ctx.Err() == nil {
			_ = p.hubData.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, _ := p.hubData.Read(buf)
			received += int64(n)
		}
	})
	beat := func(w io.Writer) {
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tk.C:
				b, _ := syncproto.EncodeControl(syncproto.HeartbeatNow(now))
				if _, err := w.Write(b); err != nil {
					return
				}
			}
		}
	}
	// maxGap reads heartbeats and returns the longest silence.
	maxGap := func(r *Stream) (time.Duration, int) {
		last, worst, n := time.Now(), time.Duration(0), 0
		for ctx.Err() == nil {
			_ = r.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			typ, _, err := syncproto.ReadFrame(r, syncproto.MaxControlFrame)
			now := time.Now()
			if err == nil && typ == syncproto.TypeHeartbeat {
				worst, last = max(worst, now.Sub(last)), now
				n++
				continue
			}
		}
		return max(worst, time.Since(last)-200*time.Millisecond), n
	}
	wg.Go(func() { beat(p.agentCtl) })
	wg.Go(func() { beat(p.hub.ctl) })
	var hubGap, agentGap time.Duration
	var hubBeats, agentBeats int
	wg.Go(func() { hubGap, hubBeats = maxGap(p.hub.ctl) })
	wg.Go(func() { agentGap, agentBeats = maxGap(p.agentCtl) })
	wg.Wait()
	limit := syncproto.LivenessFactor * interval
	t.Logf("data %d bytes through a 1 MiB/s link; heartbeats hub %d (max gap %v), agent %d (max gap %v); relay %+v",
		received, hubBeats, hubGap, agentBeats, agentGap, p.relay.Stats().Up)
	if p.relay.Stats().Up.QueueDrops == 0 {
		t.Fatal("the link was never saturated")
	}
	if hubGap >= limit || agentGap >= limit || hubBeats == 0 || agentBeats == 0 {
		t.Fatalf("heartbeats starved: hub heard %d (max gap %v), agent heard %d (max gap %v), limit %v",
			hubBeats, hubGap, agentBeats, agentGap, limit)
	}
	_ = net.ErrClosed
}

// TestStatelessResetAfterRestart: a hub restarted on the same address (and
// so the same derived reset key) tells agents of the old process at once
// that their connection is gone, instead of leaving them to time out.
func TestStatelessResetAfterRestart(t *testing.T) {
	ca, err := pki.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("127.0.0.1:0", ca.ServerTLS(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	relay, err := netchaos.New(netchaos.Config{Target: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			go func() {
				if _, err := c.Authenticate(ctx, nil); err != nil {
					return
				}
				if s, err := c.AcceptControl(ctx); err == nil {
					_, _ = s.Write(helloFrame(t, "pong"))
				}
			}()
		}
	}()
	h := &testHub{ca: ca}
	c, ctl, err := connect(t, NewDialer(h.bundle(t, ca, "gw-1"), Config{MaxIdleTimeout: time.Minute}), relay.Addr().String(), "gw-1")
	if err != nil {
		t.Fatal(err)
	}
	// A round trip: the hub has confirmed the handshake (a client whose
	// handshake is not confirmed may still send long-header packets, which
	// are never answered with a stateless reset).
	_ = ctl.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, _, err := syncproto.ReadFrame(ctl, syncproto.MaxControlFrame); err != nil {
		t.Fatal(err)
	}
	// The hub dies without a word (its close frames are lost) and a new
	// process takes the address.
	relay.SetDown(true)
	ln.Close()
	ln2, err := Listen(addr, ca.ServerTLS(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	relay.SetDown(false)
	_, _ = ctl.Write(helloFrame(t, "gw-1")) // any packet from the agent
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("connection to the dead hub still open")
	}
	var reset *quic.StatelessResetError
	if !errors.As(c.Err(), &reset) {
		t.Fatalf("connection ended with %v, want a stateless reset; relay %+v", c.Err(), relay.Stats())
	}
}

// TestReconnectWithoutZeroRTT: by default a reconnection waits for the
// handshake (no 0-RTT data, see Config.ZeroRTT) and the hub still gets the
// Hello and the agent's identity.
func TestReconnectWithoutZeroRTT(t *testing.T) {
	h := newHub(t, Config{})
	addr := h.ln.Addr().String()
	d := NewDialer(h.bundle(t, h.ca, "gw-1"), Config{})
	for i := range 2 {
		c, ctl, err := connect(t, d, addr, "gw-1")
		if err != nil {
			t.Fatal(err)
		}
		a := waitAccepted(t, h)
		if c.Used0RTT() || a.conn.Used0RTT() {
			t.Fatalf("connection %d used 0-RTT without Config.ZeroRTT", i)
		}
		if a.id.AgentID != "gw-1" {
			t.Fatalf("connection %d: identity %+v", i, a.id)
		}
		if _, err := a.ctl.Write(helloFrame(t, "pong")); err != nil {
			t.Fatal(err)
		}
		_ = ctl.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, _, err := syncproto.ReadFrame(ctl, syncproto.MaxControlFrame); err != nil {
			t.Fatal(err)
		}
		c.Close(nil)
	}
}

package netchaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Relay.
type Config struct {
	// Target is the address datagrams are forwarded to (required).
	Target string
	// Listen is the client-facing address; default "127.0.0.1:0".
	Listen string
	// Up and Down are the initial impairments of each direction.
	Up, Down Impairment
	// Seed makes the random choices repeatable.
	Seed uint64
	// MaxFlows bounds the client addresses served at once; default 1024.
	MaxFlows int
	Logger   *slog.Logger
}

// Stats counts datagrams per direction.
type Stats struct {
	Up, Down DirStats
	Rebinds  uint64
	Flows    int
}

// Relay is a running impairing UDP relay.
type Relay struct {
	cfg    Config
	target *net.UDPAddr
	ln     *net.UDPConn
	up     *link
	down   *link
	done   chan struct{}
	wg     sync.WaitGroup

	downMu     sync.Mutex // protects downUntil and downManual
	downUntil  time.Time
	downManual bool
	isDownFast atomic.Bool // downManual || a blackout may be active; checked first

	mu      sync.Mutex // protects flows and closed
	flows   map[string]*flow
	closed  bool
	rebinds atomic.Uint64
}

// flow is one client address and its upstream socket.
type flow struct {
	client *net.UDPAddr
	up     atomic.Pointer[net.UDPConn]
}

// New starts a relay.
func New(cfg Config) (*Relay, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.MaxFlows == 0 {
		cfg.MaxFlows = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	target, err := net.ResolveUDPAddr("udp", cfg.Target)
	if err != nil {
		return nil, fmt.Errorf("netchaos: target: %w", err)
	}
	laddr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("netchaos: listen: %w", err)
	}
	ln, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("netchaos: %w", err)
	}
	r := &Relay{cfg: cfg, target: target, ln: ln, done: make(chan struct{}), flows: map[string]*flow{}}
	r.up, r.down = newLink(r, cfg.Seed), newLink(r, cfg.Seed+1)
	r.up.set(cfg.Up)
	r.down.set(cfg.Down)
	r.wg.Add(3)
	go func() { defer r.wg.Done(); r.up.run() }()
	go func() { defer r.wg.Done(); r.down.run() }()
	go func() { defer r.wg.Done(); r.readClients() }()
	return r, nil
}

// Addr is where clients send: use it instead of the target's address.
func (r *Relay) Addr() net.Addr { return r.ln.LocalAddr() }

// SetImpairment replaces both directions' impairments.
func (r *Relay) SetImpairment(up, down Impairment) {
	r.up.set(up)
	r.down.set(down)
}

// Blackout drops everything, both ways, for d from now.
func (r *Relay) Blackout(d time.Duration) {
	r.downMu.Lock()
	if until := time.Now().Add(d); until.After(r.downUntil) {
		r.downUntil = until
	}
	r.isDownFast.Store(true)
	r.downMu.Unlock()
}

// SetDown takes the link down (true) until SetDown(false).
func (r *Relay) SetDown(down bool) {
	r.downMu.Lock()
	r.downManual = down
	if down {
		r.isDownFast.Store(true)
	}
	r.downMu.Unlock()
}

// Flap alternates the link between up (for up) and down (for down) until
// ctx ends, then leaves it up.
func (r *Relay) Flap(ctx context.Context, up, down time.Duration) {
	defer r.SetDown(false)
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.done:
			return
		case <-time.After(up):
		}
		r.SetDown(true)
		select {
		case <-ctx.Done():
			return
		case <-r.done:
			return
		case <-time.After(down):
		}
		r.SetDown(false)
	}
}

func (r *Relay) isDown(now time.Time) bool {
	if !r.isDownFast.Load() {
		return false
	}
	r.downMu.Lock()
	defer r.downMu.Unlock()
	if r.downManual || now.Before(r.downUntil) {
		return true
	}
	r.isDownFast.Store(false)
	return false
}

// Rebind gives every client a new upstream socket (a new source port): the
// target sees each client move to a new address, as after a NAT rebinding.
func (r *Relay) Rebind() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return net.ErrClosed
	}
	for _, f := range r.flows {
		c, err := net.DialUDP("udp", nil, r.target)
		if err != nil {
			return fmt.Errorf("netchaos: rebind: %w", err)
		}
		old := f.up.Swap(c)
		r.wg.Add(1)
		go r.readUpstream(f, c)
		old.Close()
	}
	r.rebinds.Add(1)
	return nil
}

// Stats returns counters so far.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	n := len(r.flows)
	r.mu.Unlock()
	return Stats{Up: r.up.stats(), Down: r.down.stats(), Rebinds: r.rebinds.Load(), Flows: n}
}

// Close stops the relay and waits for its goroutines.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	err := r.ln.Close()
	for _, f := range r.flows {
		f.up.Load().Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return err
}

// readClients forwards datagrams from clients upstream.
func (r *Relay) readClients() {
	buf := make([]byte, 64<<10)
	for {
		n, addr, err := r.ln.ReadFromUDP(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				r.cfg.Logger.Warn("netchaos: read", "err", err)
			}
			return
		}
		f := r.flowFor(addr)
		if f == nil {
			continue
		}
		r.up.submit(buf[:n], func(b []byte) { _, _ = f.up.Load().Write(b) })
	}
}

// flowFor returns the flow of a client address, creating it if needed.
func (r *Relay) flowFor(addr *net.UDPAddr) *flow {
	key := addr.String()
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.flows[key]; ok || r.closed {
		return f
	}
	if len(r.flows) >= r.cfg.MaxFlows {
		return nil
	}
	c, err := net.DialUDP("udp", nil, r.target)
	if err != nil {
		r.cfg.Logger.Warn("netchaos: upstream socket", "err", err)
		return nil
	}
	f := &flow{client: addr}
	f.up.Store(c)
	r.flows[key] = f
	r.wg.Add(1)
	go r.readUpstream(f, c)
	return f
}

// readUpstream forwards datagrams from the target back to the flow's
// client until c is closed (by Rebind or Close).
func (r *Relay) readUpstream(f *flow, c *net.UDPConn) {
	defer r.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP-induced errors (target not listening) are transient.
			select {
			case <-r.done:
				return
			default:
				continue
			}
		}
		r.down.submit(buf[:n], func(b []byte) { _, _ = r.ln.WriteToUDP(b, f.client) })
	}
}

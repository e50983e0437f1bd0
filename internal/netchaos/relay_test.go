package netchaos

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// echoServer answers every datagram with "<source address>|<datagram>" and
// records the distinct source addresses it saw.
type echoServer struct {
	c       *net.UDPConn
	mu      sync.Mutex
	sources map[string]bool
}

func newEcho(t *testing.T) *echoServer {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{c: c, sources: map[string]bool{}}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, addr, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			e.mu.Lock()
			e.sources[addr.String()] = true
			e.mu.Unlock()
			_, _ = c.WriteToUDP(append([]byte(addr.String()+"|"), buf[:n]...), addr)
		}
	}()
	t.Cleanup(func() { c.Close() })
	return e
}

func (e *echoServer) nSources() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.sources)
}

func newRelay(t *testing.T, e *echoServer, cfg Config) *Relay {
	cfg.Target = e.c.LocalAddr().String()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func dial(t *testing.T, r *Relay) *net.UDPConn {
	c, err := net.DialUDP("udp", nil, r.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	t.Cleanup(func() { c.Close() })
	return c
}

// collect reads replies until quiet for idle, returning the sequence
// numbers received (the last 8 bytes of each reply) and the source the
// server saw for the last one.
func collect(t *testing.T, c *net.UDPConn, idle time.Duration) ([]uint64, string) {
	return startCollect(t, c, idle)()
}

// startCollect is collect reading in the background (so bursts do not
// overflow the socket buffer); the returned function waits for the result.
func startCollect(t *testing.T, c *net.UDPConn, idle time.Duration) func() ([]uint64, string) {
	type result struct {
		seqs   []uint64
		source string
	}
	ch := make(chan result, 1)
	go func() {
		s, src := readReplies(t, c, idle)
		ch <- result{s, src}
	}()
	return func() ([]uint64, string) { r := <-ch; return r.seqs, r.source }
}

func readReplies(t *testing.T, c *net.UDPConn, idle time.Duration) ([]uint64, string) {
	var seqs []uint64
	var source string
	buf := make([]byte, 65536)
	for {
		_ = c.SetReadDeadline(time.Now().Add(idle))
		n, err := c.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return seqs, source
			}
			t.Error(err)
			return seqs, source
		}
		msg := buf[:n]
		for i := range msg {
			if msg[i] == '|' {
				source = string(msg[:i])
				msg = msg[i+1:]
				break
			}
		}
		seqs = append(seqs, binary.BigEndian.Uint64(msg[len(msg)-8:]))
	}
}

func send(t *testing.T, c *net.UDPConn, from, n int, size int) {
	b := make([]byte, max(size, 8))
	for i := from; i < from+n; i++ {
		binary.BigEndian.PutUint64(b[len(b)-8:], uint64(i))
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			time.Sleep(time.Millisecond) // stay within socket buffers
		}
	}
}

func TestRelayForwards(t *testing.T) {
	e := newEcho(t)
	r := newRelay(t, e, Config{})
	c := dial(t, r)
	send(t, c, 0, 200, 100)
	got, _ := collect(t, c, 300*time.Millisecond)
	if len(got) != 200 {
		t.Fatalf("clean relay delivered %d of 200", len(got))
	}
	for i, s := range got {
		if s != uint64(i) {
			t.Fatalf("clean relay reordered: position %d has %d", i, s)
		}
	}
}

func TestRelayLossAndDuplication(t *testing.T) {
	e := newEcho(t)
	r := newRelay(t, e, Config{Seed: 7, Up: Impairment{Loss: 0.2}, Down: Impairment{Duplicate: 0.5}})
	c := dial(t, r)
	wait := startCollect(t, c, 500*time.Millisecond)
	send(t, c, 0, 1000, 50)
	got, _ := wait()
	st := r.Stats()
	if st.Up.Lost < 100 || st.Up.Lost > 300 {
		t.Fatalf("20%% loss dropped %d of 1000", st.Up.Lost)
	}
	if st.Down.Duplicated < 200 {
		t.Fatalf("50%% duplication made %d copies", st.Down.Duplicated)
	}
	// The client's socket may drop a few replies under load; what arrives
	// must be consistent with the relay's counts.
	if uint64(len(got)) > st.Down.Out {
		t.Fatalf("received %d, relay delivered %d", len(got), st.Down.Out)
	}
	seen := map[uint64]int{}
	twice := 0
	for _, s := range got {
		if s >= 1000 {
			t.Fatalf("datagram %d was never sent", s)
		}
		if seen[s]++; seen[s] == 2 {
			twice++
		}
	}
	if uint64(len(seen)) > st.Up.In-st.Up.Lost || twice < 100 {
		t.Fatalf("%d distinct datagrams arrived (%d not lost), %d twice", len(seen), st.Up.In-st.Up.Lost, twice)
	}
}

func TestRelayDelayAndReorder(t *testing.T) {
	e := newEcho(t)
	r := newRelay(t, e, Config{Seed: 3, Up: Impairment{Delay: 50 * time.Millisecond, Jitter: 20 * time.Millisecond}})
	c := dial(t, r)
	start := time.Now()
	send(t, c, 0, 1, 10)
	if got, _ := collect(t, c, 2*time.Second); len(got) != 1 {
		t.Fatal("delayed datagram lost")
	}
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Fatalf("datagram arrived after %v, before the 50ms delay", el)
	}
	send(t, c, 0, 500, 10)
	got, _ := collect(t, c, time.Second)
	inversions := 0
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			inversions++
		}
	}
	if len(got) != 500 || inversions == 0 {
		t.Fatalf("jitter: %d delivered, %d out of order", len(got), inversions)
	}
}

func TestRelayBlackoutAndDown(t *testing.T) {
	e := newEcho(t)
	r := newRelay(t, e, Config{})
	c := dial(t, r)
	r.Blackout(time.Hour)
	send(t, c, 0, 50, 10)
	if got, _ := collect(t, c, 200*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d datagrams crossed a blackout", len(got))
	}
	if r.Stats().Up.Blackout != 50 {
		t.Fatalf("blackout drops %+v", r.Stats().Up)
	}
	r.downMu.Lock()
	r.downUntil = time.Time{} // end the blackout early
	r.downMu.Unlock()
	send(t, c, 0, 10, 10)
	if got, _ := collect(t, c, 300*time.Millisecond); len(got) != 10 {
		t.Fatalf("after the blackout: %d of 10", len(got))
	}
	r.SetDown(true)
	send(t, c, 0, 10, 10)
	if got, _ := collect(t, c, 200*time.Millisecond); len(got) != 0 {
		t.Fatal("datagrams crossed a down link")
	}
	r.SetDown(false)
	send(t, c, 0, 10, 10)
	if got, _ := collect(t, c, 300*time.Millisecond); len(got) != 10 {
		t.Fatalf("after restoring: %d of 10", len(got))
	}
}

func TestRelayRateCap(t *testing.T) {
	e := newEcho(t)
	// 100 KB/s with a 10 KB queue: a burst of 100 KB cannot all pass.
	r := newRelay(t, e, Config{Up: Impairment{RateBytes: 100_000, QueueBytes: 10_000}})
	c := dial(t, r)
	b := make([]byte, 1000)
	for i := range 100 {
		binary.BigEndian.PutUint64(b[992:], uint64(i))
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := collect(t, c, 500*time.Millisecond)
	st := r.Stats()
	if st.Up.QueueDrops == 0 || len(got) == 0 || uint64(len(got))+st.Up.QueueDrops != st.Up.In {
		t.Fatalf("rate cap: %d delivered, %d queue drops", len(got), st.Up.QueueDrops)
	}
}

func TestRelayRebind(t *testing.T) {
	e := newEcho(t)
	r := newRelay(t, e, Config{})
	c := dial(t, r)
	send(t, c, 0, 1, 10)
	_, before := collect(t, c, 200*time.Millisecond)
	if err := r.Rebind(); err != nil {
		t.Fatal(err)
	}
	send(t, c, 1, 1, 10)
	got, after := collect(t, c, 200*time.Millisecond)
	if len(got) != 1 || before == "" || after == before || e.nSources() != 2 {
		t.Fatalf("rebind: source %q then %q, %d sources", before, after, e.nSources())
	}
	if r.Stats().Rebinds != 1 || r.Stats().Flows != 1 {
		t.Fatalf("stats %+v", r.Stats())
	}
}

func TestRelayFlapAndClose(t *testing.T) {
	e := newEcho(t)
	r := newRelay(t, e, Config{})
	done := make(chan struct{})
	ctx, cancel := contextWithCancel()
	go func() { r.Flap(ctx, 20*time.Millisecond, 20*time.Millisecond); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for !r.isDown(time.Now()) {
		if time.Now().After(deadline) {
			t.Fatal("flapping link never went down")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if r.isDown(time.Now()) {
		t.Fatal("link left down after flapping stopped")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Rebind(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("rebind after close: %v", err)
	}
}

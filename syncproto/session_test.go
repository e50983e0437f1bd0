package syncproto

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func welcome(resume uint64) Welcome {
	return Welcome{Version: 1, ResumeFrom: resume, Limits: Limits{MaxInFlight: 2}.WithDefaults()}
}

// agentAt returns an agent session that sent Hello for [first, next) and, if
// resume > 0, was welcomed at resume.
func agentAt(t *testing.T, first, next, resume uint64) *AgentSession {
	t.Helper()
	s := NewAgentSession("gw", "e1", nil)
	if _, err := s.Hello(first, next); err != nil {
		t.Fatal(err)
	}
	if resume > 0 {
		if _, err := s.Handle(welcome(resume)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestAgentSessionHandshake(t *testing.T) {
	cases := []struct {
		name        string
		first, next uint64
		frame       ControlFrame
		want        error
		resume      uint64
	}{
		{"resume at start", 1, 100, welcome(1), nil, 1},
		{"resume mid-log", 1, 100, welcome(40), nil, 40},
		{"resume at end (hub has everything)", 1, 100, welcome(100), nil, 100},
		{"resume past end: hub holds more than the log", 1, 100, welcome(101), ErrEpochConflict, 0},
		{"resume below first", 10, 100, welcome(5), ErrMalformed, 0},
		{"version not offered", 1, 100, Welcome{Version: 9, ResumeFrom: 1, Limits: Limits{}.WithDefaults()}, ErrBadVersion, 0},
		{"limits out of bounds", 1, 100, Welcome{Version: 1, ResumeFrom: 1, Limits: Limits{MaxInFlight: 1000}.WithDefaults()}, ErrMalformed, 0},
		{"error instead of welcome", 1, 100, ErrorFrame{Code: CodeRevoked, Message: "no"}, ErrRevoked, 0},
		{"ack before welcome", 1, 100, Ack{Through: 3}, ErrMalformed, 0},
		{"heartbeat before welcome", 1, 100, Heartbeat{TimeMs: 1}, ErrMalformed, 0},
		{"hello sent to agent", 1, 100, Hello{}, ErrMalformed, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := agentAt(t, c.first, c.next, 0)
			ev, err := s.Handle(c.frame)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("Handle: %v, want %v", err, c.want)
			}
			if c.want != nil {
				if s.Established() || s.CanSend() {
					t.Fatal("session usable after a failed handshake")
				}
				return
			}
			if !ev.Welcomed || ev.ResumeFrom != c.resume || s.NextSeq() != c.resume || s.Acked() != c.resume-1 {
				t.Fatalf("event %+v next %d acked %d", ev, s.NextSeq(), s.Acked())
			}
		})
	}
	s := agentAt(t, 1, 1, 0)
	if _, err := s.Hello(1, 1); err == nil {
		t.Fatal("second Hello allowed")
	}
}

func TestAgentSessionWindowAndAcks(t *testing.T) {
	s := agentAt(t, 1, 1000, 11) // window of 2
	if err := s.Sent(12, 5, 100); err == nil {
		t.Fatal("batch with a gap accepted")
	}
	must(t, s.Sent(11, 10, 100)) // 11..20
	must(t, s.Sent(21, 10, 100)) // 21..30
	if s.CanSend() || s.Sent(31, 1, 10) == nil {
		t.Fatal("window of 2 exceeded")
	}
	steps := []struct {
		ack     uint64
		want    error
		acked   bool
		inflt   int
		canSend bool
	}{
		{10, nil, false, 2, false},          // repeat of the resume point: nothing new
		{15, nil, true, 2, false},           // partial batch
		{20, nil, true, 1, true},            // first batch done
		{20, nil, false, 1, true},           // duplicate
		{30, nil, true, 0, true},            // all
		{31, ErrMalformed, false, 0, false}, // beyond what was sent
	}
	for i, st := range steps {
		ev, err := s.Handle(Ack{Through: st.ack})
		if !errors.Is(err, st.want) || (st.want == nil) != (err == nil) {
			t.Fatalf("step %d: %v, want %v", i, err, st.want)
		}
		if err != nil {
			break
		}
		if ev.Acked != st.acked || s.InFlight() != st.inflt || s.CanSend() != st.canSend {
			t.Fatalf("step %d: event %+v, in flight %d, can send %v", i, ev, s.InFlight(), s.CanSend())
		}
	}
	if _, err := s.Handle(Heartbeat{}); !errors.Is(err, ErrMalformed) {
		t.Fatal("frames accepted after a violation")
	}

	s = agentAt(t, 1, 1000, 1)
	must(t, s.Sent(1, 10, 100))
	_, _ = s.Handle(Ack{Through: 8})
	if _, err := s.Handle(Ack{Through: 7}); !errors.Is(err, ErrMalformed) {
		t.Fatal("backwards ack accepted")
	}

	s = agentAt(t, 1, 1000, 1)
	if err := s.Sent(1, 1<<20, 100); err == nil {
		t.Fatal("batch over the record limit accepted")
	}
	if ev, err := s.Handle(Heartbeat{TimeMs: 5}); err != nil || !ev.Heartbeat {
		t.Fatalf("heartbeat: %+v %v", ev, err)
	}
	if _, err := s.Handle(ErrorFrame{Code: CodeShuttingDown}); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("error frame: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func hello(first, next uint64) Hello {
	return Hello{AgentID: "gw", Versions: []uint16{1}, Epoch: "e1", First: first, Next: next}
}

func TestHubSessionHandshake(t *testing.T) {
	cases := []struct {
		name   string
		hello  Hello
		peer   string
		merged uint64
		want   error
		resume uint64
		gap    uint64
	}{
		{"new agent", hello(1, 50), "gw", 0, nil, 1, 0},
		{"resumed agent", hello(1, 50), "gw", 20, nil, 21, 0},
		{"hub has everything", hello(1, 50), "gw", 49, nil, 50, 0},
		{"empty log", hello(1, 1), "gw", 0, nil, 1, 0},
		{"agent trimmed below what the hub has", hello(10, 50), "gw", 20, nil, 21, 0},
		{"agent dropped unsent records", hello(30, 50), "gw", 20, nil, 30, 9},
		{"hub holds more than the log", hello(1, 50), "gw", 50, ErrEpochConflict, 0, 0},
		{"certificate names someone else", hello(1, 50), "other", 0, ErrUnauthorized, 0, 0},
		{"no certificate identity", hello(1, 50), "", 0, ErrUnauthorized, 0, 0},
		{"no common version", Hello{AgentID: "gw", Versions: []uint16{7, 8}, Epoch: "e", First: 1, Next: 1}, "gw", 0, ErrBadVersion, 0, 0},
		{"invalid hello", Hello{AgentID: "gw", Versions: []uint16{1}, Epoch: "e", First: 0, Next: 1}, "gw", 0, ErrMalformed, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewHubSession(Limits{}, nil)
			err := s.HandleHello(c.hello, c.peer)
			var w Welcome
			if err == nil {
				w, err = s.Welcome(c.merged)
			}
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if err != nil {
				if s.Established() {
					t.Fatal("established after an error")
				}
				return
			}
			if w.ResumeFrom != c.resume || s.Gap() != c.gap || w.Version != 1 || s.AgentID() != "gw" {
				t.Fatalf("welcome %+v gap %d", w, s.Gap())
			}
			if _, err := EncodeControl(w); err != nil {
				t.Fatalf("welcome does not encode: %v", err)
			}
		})
	}
}

func TestHubSessionVersionChoice(t *testing.T) {
	s := NewHubSession(Limits{}, []uint16{3, 2, 1})
	must(t, s.HandleHello(Hello{AgentID: "gw", Versions: []uint16{1, 2}, Epoch: "e", First: 1, Next: 1}, "gw"))
	if s.Version() != 2 {
		t.Fatalf("chose %d, want the newest common version 2", s.Version())
	}
}

func batchOf(first uint64, n int) *Batch {
	b := &Batch{First: first, Records: make([][]byte, n)}
	b.RawBytes = rawListSize(n, 0)
	return b
}

func TestHubSessionBatchesAndAcks(t *testing.T) {
	s := NewHubSession(Limits{MaxInFlight: 2, MaxBatchRecords: 100}, nil)
	if err := s.HandleBatch(batchOf(1, 1)); !errors.Is(err, ErrMalformed) {
		t.Fatal("batch before Hello accepted")
	}
	s = NewHubSession(Limits{MaxInFlight: 2, MaxBatchRecords: 100}, nil)
	must(t, s.HandleHello(hello(1, 1000), "gw"))
	if _, err := s.Welcome(10); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Merged(5); err != nil {
		t.Fatal(err)
	}
	must(t, s.HandleBatch(batchOf(11, 10)))
	must(t, s.HandleBatch(batchOf(21, 10)))
	ack, ok, err := s.Merged(20)
	if err != nil || !ok || ack.Through != 20 || s.InFlight() != 1 {
		t.Fatalf("ack %+v %v %v, in flight %d", ack, ok, err, s.InFlight())
	}
	if _, ok, _ := s.Merged(20); ok {
		t.Fatal("repeated ack")
	}
	// A merge that finds more already held never acknowledges beyond what
	// this session received.
	ack, ok, _ = s.Merged(500)
	if !ok || ack.Through != 30 || s.InFlight() != 0 {
		t.Fatalf("clamped ack %+v in flight %d", ack, s.InFlight())
	}
	if hb, ok, err := s.HandleControl(Heartbeat{TimeMs: 1, Durable: 99}); err != nil || !ok || hb.Durable != 99 {
		t.Fatalf("heartbeat: %+v %v %v", hb, ok, err)
	}

	bad := []struct {
		name string
		do   func(*HubSession) error
	}{
		{"gap", func(s *HubSession) error { return s.HandleBatch(batchOf(32, 1)) }},
		{"overlap", func(s *HubSession) error { return s.HandleBatch(batchOf(30, 1)) }},
		{"empty", func(s *HubSession) error { return s.HandleBatch(batchOf(31, 0)) }},
		{"too many records", func(s *HubSession) error { return s.HandleBatch(batchOf(31, 101)) }},
		{"window", func(s *HubSession) error {
			must(t, s.HandleBatch(batchOf(31, 1)))
			must(t, s.HandleBatch(batchOf(32, 1)))
			return s.HandleBatch(batchOf(33, 1))
		}},
		{"second hello", func(s *HubSession) error { _, _, err := s.HandleControl(hello(1, 2)); return err }},
		{"ack sent to hub", func(s *HubSession) error { _, _, err := s.HandleControl(Ack{}); return err }},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			s := NewHubSession(Limits{MaxInFlight: 2, MaxBatchRecords: 100}, nil)
			must(t, s.HandleHello(hello(1, 1000), "gw"))
			if _, err := s.Welcome(30); err != nil {
				t.Fatal(err)
			}
			if err := c.do(s); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
			if s.Established() {
				t.Fatal("session continues after a violation")
			}
		})
	}
}

// TestSessionsExactlyOnce drives both state machines over many connections
// that die at random points, losing whatever was in flight, against a hub
// store that drops what it already holds. Every record must be merged once,
// in order, and the agent must never trim what the hub does not hold.
func TestSessionsExactlyOnce(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 99))
		const total = 2000
		var (
			walFirst uint64   = 1
			walNext  uint64   = 1
			merged   []uint64 // sequences in merge order
			mark     uint64   // hub's durable per-agent mark
			hubAcked uint64   // what the agent learned from Acks
			conns    int
			limits   = Limits{MaxInFlight: 1 + rng.IntN(4), MaxBatchRecords: 1 + rng.IntN(50)}
		)
		for mark < total {
			conns++
			if conns > 10000 {
				t.Fatalf("seed %d: no progress", seed)
			}
			// The agent appends while disconnected.
			walNext = min(total+1, walNext+uint64(rng.IntN(300)))
			a := NewAgentSession("gw", "e1", nil)
			h := NewHubSession(limits, nil)
			hl, err := a.Hello(walFirst, walNext)
			must(t, err)
			must(t, h.HandleHello(hl, "gw"))
			w, err := h.Welcome(mark)
			must(t, err)
			if _, err := a.Handle(w); err != nil {
				t.Fatal(err)
			}
			var wire []*Batch // agent → hub, in order
			var acks []Ack    // hub → agent, in order
			steps := rng.IntN(200)
			for range steps {
				switch rng.IntN(3) {
				case 0: // agent sends a batch if it has records and a window
					if a.CanSend() && a.NextSeq() < walNext {
						n := min(int(walNext-a.NextSeq()), 1+rng.IntN(limits.WithDefaults().MaxBatchRecords))
						b := batchOf(a.NextSeq(), n)
						must(t, a.Sent(b.First, n, b.RawBytes))
						wire = append(wire, b)
					}
				case 1: // hub receives and merges one batch
					if len(wire) == 0 {
						continue
					}
					b := wire[0]
					wire = wire[1:]
					must(t, h.HandleBatch(b))
					for s := b.First; s <= b.Last(); s++ {
						if s > mark {
							merged = append(merged, s)
							mark = s
						}
					}
					if ack, ok, err := h.Merged(mark); err != nil {
						t.Fatal(err)
					} else if ok {
						acks = append(acks, ack)
					}
				case 2: // agent receives an ack, trims its log
					if len(acks) == 0 {
						continue
					}
					ev, err := a.Handle(acks[0])
					acks = acks[1:]
					must(t, err)
					if ev.Acked {
						if ev.AckedThrough > mark {
							t.Fatalf("seed %d: ack through %d beyond the hub's mark %d", seed, ev.AckedThrough, mark)
						}
						hubAcked = ev.AckedThrough
						walFirst = max(walFirst, min(hubAcked+1, walNext))
					}
				}
				walNext = min(total+1, walNext+uint64(rng.IntN(3)))
			}
			// The connection dies: whatever was on the wire is lost.
		}
		if len(merged) != total {
			t.Fatalf("seed %d: merged %d records, want %d", seed, len(merged), total)
		}
		for i, s := range merged {
			if s != uint64(i+1) {
				t.Fatalf("seed %d: merge %d was sequence %d", seed, i, s)
			}
		}
	}
}

func TestLiveness(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := NewLiveness(time.Second, t0)
	if l.Due(t0) || l.Dead(t0) {
		t.Fatal("fresh liveness")
	}
	if !l.Due(t0.Add(time.Second)) {
		t.Fatal("heartbeat not due after an interval")
	}
	l.Sent(t0.Add(time.Second))
	if l.Due(t0.Add(1500 * time.Millisecond)) {
		t.Fatal("heartbeat due right after sending")
	}
	if l.Dead(t0.Add(2999*time.Millisecond)) || !l.Dead(t0.Add(3*time.Second)) {
		t.Fatal("dead after LivenessFactor intervals")
	}
	l.Heard(t0.Add(3 * time.Second))
	if l.Dead(t0.Add(4*time.Second)) || l.Silence(t0.Add(4*time.Second)) != time.Second {
		t.Fatal("heard resets silence")
	}
}

package syncproto

import "fmt"

// AgentSession is the agent's side of one connection as a state machine:
// it performs no I/O and keeps no clock. The shipper feeds it what it
// reads and asks it what may be sent. One session per connection; what
// survives a reconnect is the agent's WAL and the hub's resume point.
// Not safe for concurrent use: one goroutine owns it.
type AgentSession struct {
	agentID  string
	epoch    string
	versions []uint16

	state       agentState
	first, last uint64 // the log range announced in the Hello: [first, last+1)
	version     uint16
	limits      Limits
	next        uint64 // sequence of the next record to send
	acked       uint64 // the hub holds everything through acked
	inflight    []span // sent, not fully acknowledged; ascending
}

type agentState uint8

const (
	agentNew agentState = iota
	agentHelloSent
	agentEstablished
	agentClosed
)

// span is the sequence range of one batch.
type span struct{ first, last uint64 }

// NewAgentSession starts a session for agentID whose WAL has the given
// epoch. versions defaults to SupportedVersions().
func NewAgentSession(agentID, epoch string, versions []uint16) *AgentSession {
	if len(versions) == 0 {
		versions = SupportedVersions()
	}
	return &AgentSession{agentID: agentID, epoch: epoch, versions: versions}
}

// Hello returns the session's opening frame for a log holding [first, next).
func (s *AgentSession) Hello(first, next uint64) (Hello, error) {
	if s.state != agentNew {
		return Hello{}, fmt.Errorf("syncproto: Hello already sent")
	}
	h := Hello{AgentID: s.agentID, Versions: s.versions, Epoch: s.epoch, First: first, Next: next}
	if err := h.validate(); err != nil {
		return Hello{}, err
	}
	s.state, s.first, s.last = agentHelloSent, first, next-1
	return h, nil
}

// Event is what a control frame meant to the agent.
type Event struct {
	// Welcomed: the session is established; ResumeFrom is where to read.
	Welcomed   bool
	ResumeFrom uint64
	// Acked: the hub now holds everything through AckedThrough.
	Acked        bool
	AckedThrough uint64
	// Heartbeat: a heartbeat arrived (liveness only).
	Heartbeat bool
}

// Handle applies one control frame from the hub. An Error frame or a
// protocol violation returns an error and ends the session; a violation
// should be reported to the hub with its code.
func (s *AgentSession) Handle(f ControlFrame) (Event, error) {
	if s.state == agentClosed {
		return Event{}, malformed("%v after the session ended", f.Type())
	}
	switch f := f.(type) {
	case ErrorFrame:
		s.state = agentClosed
		return Event{}, f.Err()
	case Welcome:
		return s.welcome(f)
	case Ack:
		return s.ack(f)
	case Heartbeat:
		if s.state != agentEstablished {
			return Event{}, s.fail(malformed("Heartbeat before Welcome"))
		}
		return Event{Heartbeat: true}, nil
	}
	return Event{}, s.fail(malformed("%v sent to the agent", f.Type()))
}

func (s *AgentSession) fail(err error) error {
	s.state = agentClosed
	return err
}

func (s *AgentSession) welcome(w Welcome) (Event, error) {
	if s.state != agentHelloSent {
		return Event{}, s.fail(malformed("unexpected Welcome"))
	}
	if err := w.validate(); err != nil {
		return Event{}, s.fail(err)
	}
	offered := false
	for _, v := range s.versions {
		offered = offered || v == w.Version
	}
	switch {
	case !offered:
		return Event{}, s.fail(Errorf(CodeBadVersion, "hub chose version %d, not offered", w.Version))
	case w.ResumeFrom > s.last+1:
		return Event{}, s.fail(Errorf(CodeEpochConflict, "hub resumes from %d, the log ends at %d", w.ResumeFrom, s.last))
	case w.ResumeFrom < s.first:
		return Event{}, s.fail(malformed("hub resumes from %d, below the log's first %d", w.ResumeFrom, s.first))
	}
	s.state, s.version, s.limits = agentEstablished, w.Version, w.Limits
	s.next, s.acked = w.ResumeFrom, w.ResumeFrom-1
	return Event{Welcomed: true, ResumeFrom: w.ResumeFrom}, nil
}

func (s *AgentSession) ack(a Ack) (Event, error) {
	switch {
	case s.state != agentEstablished:
		return Event{}, s.fail(malformed("Ack before Welcome"))
	case a.Through < s.acked:
		return Event{}, s.fail(malformed("Ack through %d after Ack through %d", a.Through, s.acked))
	case a.Through >= s.next:
		return Event{}, s.fail(malformed("Ack through %d, only sent through %d", a.Through, s.next-1))
	case a.Through == s.acked:
		return Event{}, nil
	}
	s.acked = a.Through
	i := 0
	for i < len(s.inflight) && s.inflight[i].last <= a.Through {
		i++
	}
	s.inflight = s.inflight[i:]
	return Event{Acked: true, AckedThrough: a.Through}, nil
}

// Established reports whether the Welcome has arrived and the session has
// not ended.
func (s *AgentSession) Established() bool { return s.state == agentEstablished }

// Version is the negotiated protocol version (0 before the Welcome).
func (s *AgentSession) Version() uint16 { return s.version }

// Limits are the hub's terms (zero before the Welcome).
func (s *AgentSession) Limits() Limits { return s.limits }

// NextSeq is the sequence the next batch must start with.
func (s *AgentSession) NextSeq() uint64 { return s.next }

// Acked is the highest sequence the hub acknowledged in this session (the
// resume point minus one right after the Welcome).
func (s *AgentSession) Acked() uint64 { return s.acked }

// InFlight is the number of batches sent and not fully acknowledged.
func (s *AgentSession) InFlight() int { return len(s.inflight) }

// CanSend reports whether another batch may be sent now.
func (s *AgentSession) CanSend() bool {
	return s.state == agentEstablished && len(s.inflight) < s.limits.MaxInFlight
}

// Sent records that a batch of count records starting at first went out.
// It must continue exactly where the previous one ended, respect the
// window, and fit the limits (raw is its encoded record list size).
func (s *AgentSession) Sent(first uint64, count, raw int) error {
	switch {
	case !s.CanSend():
		return fmt.Errorf("syncproto: batch sent with no window (state %d, %d in flight)", s.state, len(s.inflight))
	case first != s.next:
		return fmt.Errorf("syncproto: batch starts at %d, expected %d", first, s.next)
	case !s.limits.fits(count, raw):
		return fmt.Errorf("syncproto: batch of %d records, %d bytes over the limits", count, raw)
	}
	last := first + uint64(count) - 1
	s.inflight = append(s.inflight, span{first, last})
	s.next = last + 1
	return nil
}

// Close ends the session; later frames are violations.
func (s *AgentSession) Close() { s.state = agentClosed }

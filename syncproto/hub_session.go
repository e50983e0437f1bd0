package syncproto

import "fmt"

// HubSession is the hub's side of one connection as a state machine: no
// I/O, no clock. The ingest loop feeds it the agent's frames and the
// results of merging, and sends what it returns. Not safe for concurrent
// use: one goroutine owns it.
type HubSession struct {
	limits   Limits
	versions []uint16

	state    hubState
	hello    Hello
	version  uint16
	expected uint64 // first sequence of the next batch
	acked    uint64 // highest sequence acknowledged to the agent
	gap      uint64 // records the agent no longer had at the Welcome
	inflight []span // received, not yet acknowledged; ascending
}

type hubState uint8

const (
	hubAwaitHello hubState = iota
	hubHelloed
	hubEstablished
	hubClosed
)

// NewHubSession starts a session offering limits (defaults filled) and the
// given versions (default SupportedVersions()).
func NewHubSession(limits Limits, versions []uint16) *HubSession {
	if len(versions) == 0 {
		versions = SupportedVersions()
	}
	return &HubSession{limits: limits.WithDefaults(), versions: versions}
}

// HandleHello checks the agent's Hello against the identity its
// certificate proved (peerID). After it succeeds, the caller looks up how
// far it has merged this agent's epoch and calls Welcome.
func (s *HubSession) HandleHello(h Hello, peerID string) error {
	if s.state != hubAwaitHello {
		return s.fail(malformed("second Hello"))
	}
	if err := h.validate(); err != nil {
		return s.fail(err)
	}
	if peerID == "" || h.AgentID != peerID {
		return s.fail(Errorf(CodeUnauthorized, "Hello names agent %q, the certificate %q", h.AgentID, peerID))
	}
	for _, mine := range s.versions { // newest first
		for _, theirs := range h.Versions {
			if mine == theirs && s.version == 0 {
				s.version = mine
			}
		}
	}
	if s.version == 0 {
		return s.fail(Errorf(CodeBadVersion, "agent speaks %v, hub speaks %v", h.Versions, s.versions))
	}
	s.state, s.hello = hubHelloed, h
	return nil
}

// Welcome answers the Hello, given the highest sequence of the agent's
// epoch the hub has durably merged (0 for none). When the hub holds more
// than the agent's log has, it is an epoch conflict. When the agent's log
// no longer starts right after merged, the missing records are gone: the
// session resumes at the log's first record and Gap counts them.
func (s *HubSession) Welcome(merged uint64) (Welcome, error) {
	if s.state != hubHelloed {
		return Welcome{}, fmt.Errorf("syncproto: Welcome without a Hello")
	}
	if merged >= s.hello.Next {
		return Welcome{}, s.fail(Errorf(CodeEpochConflict,
			"hub merged epoch %s through %d, the agent's log ends at %d", s.hello.Epoch, merged, s.hello.Next-1))
	}
	resume := max(merged+1, s.hello.First)
	s.gap = resume - (merged + 1)
	s.state, s.expected, s.acked = hubEstablished, resume, resume-1
	return Welcome{Version: s.version, ResumeFrom: resume, Limits: s.limits}, nil
}

// AgentID is the agent named in an accepted Hello.
func (s *HubSession) AgentID() string { return s.hello.AgentID }

// Epoch is the WAL epoch named in an accepted Hello.
func (s *HubSession) Epoch() string { return s.hello.Epoch }

// Hello is the accepted Hello.
func (s *HubSession) Hello() Hello { return s.hello }

// Gap is the number of records the agent had dropped before they reached
// the hub (see Welcome).
func (s *HubSession) Gap() uint64 { return s.gap }

// Version is the negotiated protocol version.
func (s *HubSession) Version() uint16 { return s.version }

// Limits are the session's terms.
func (s *HubSession) Limits() Limits { return s.limits }

// Established reports whether the Welcome was sent and the session has not
// ended.
func (s *HubSession) Established() bool { return s.state == hubEstablished }

// Acked is the highest sequence acknowledged so far.
func (s *HubSession) Acked() uint64 { return s.acked }

// InFlight is the number of batches received and not yet acknowledged.
func (s *HubSession) InFlight() int { return len(s.inflight) }

// HandleControl applies a control frame from the agent after the Hello.
// It returns the agent's heartbeat, if that is what arrived.
func (s *HubSession) HandleControl(f ControlFrame) (hb Heartbeat, ok bool, err error) {
	if s.state == hubClosed {
		return Heartbeat{}, false, malformed("%v after the session ended", f.Type())
	}
	switch f := f.(type) {
	case ErrorFrame:
		s.state = hubClosed
		return Heartbeat{}, false, f.Err()
	case Heartbeat:
		if s.state != hubEstablished {
			return Heartbeat{}, false, s.fail(malformed("Heartbeat before Welcome"))
		}
		return f, true, nil
	case Hello:
		return Heartbeat{}, false, s.fail(malformed("second Hello"))
	}
	return Heartbeat{}, false, s.fail(malformed("%v sent to the hub", f.Type()))
}

// HandleBatch admits a decoded batch: it must follow the previous one
// exactly, fit the limits and the in-flight window.
func (s *HubSession) HandleBatch(b *Batch) error {
	switch {
	case s.state != hubEstablished:
		return s.fail(malformed("Batch before Welcome"))
	case len(b.Records) == 0:
		return s.fail(malformed("empty Batch"))
	case b.First != s.expected:
		return s.fail(malformed("Batch starts at %d, expected %d", b.First, s.expected))
	case !s.limits.fits(len(b.Records), b.RawBytes):
		return s.fail(malformed("Batch of %d records, %d bytes is over the limits", len(b.Records), b.RawBytes))
	case len(s.inflight) >= s.limits.MaxInFlight:
		return s.fail(malformed("more than %d batches in flight", s.limits.MaxInFlight))
	}
	s.inflight = append(s.inflight, span{b.First, b.Last()})
	s.expected = b.Last() + 1
	return nil
}

// Merged records that the hub durably holds the agent's records through
// seq and returns the Ack to send, if it says anything new. seq may exceed
// the batches received when the merge found them already held.
func (s *HubSession) Merged(seq uint64) (Ack, bool, error) {
	if s.state != hubEstablished {
		return Ack{}, false, fmt.Errorf("syncproto: merge result outside an established session")
	}
	if seq <= s.acked {
		return Ack{}, false, nil
	}
	if seq >= s.expected {
		seq = s.expected - 1 // never acknowledge what this session was not sent
	}
	i := 0
	for i < len(s.inflight) && s.inflight[i].last <= seq {
		i++
	}
	s.inflight = s.inflight[i:]
	if seq <= s.acked {
		return Ack{}, false, nil
	}
	s.acked = seq
	return Ack{Through: seq}, true, nil
}

// Close ends the session.
func (s *HubSession) Close() { s.state = hubClosed }

func (s *HubSession) fail(err error) error {
	s.state = hubClosed
	return err
}

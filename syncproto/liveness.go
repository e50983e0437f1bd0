package syncproto

import "time"

// Liveness tracks heartbeats on a control stream without owning a clock:
// callers pass the current time. Not safe for concurrent use.
type Liveness struct {
	interval  time.Duration
	lastHeard time.Time
	lastSent  time.Time
}

// NewLiveness starts tracking at now with the given heartbeat interval.
func NewLiveness(interval time.Duration, now time.Time) *Liveness {
	return &Liveness{interval: interval, lastHeard: now, lastSent: now}
}

// Heard records that a frame arrived from the peer.
func (l *Liveness) Heard(now time.Time) { l.lastHeard = now }

// Sent records that a heartbeat went out.
func (l *Liveness) Sent(now time.Time) { l.lastSent = now }

// Due reports whether a heartbeat should be sent now.
func (l *Liveness) Due(now time.Time) bool { return now.Sub(l.lastSent) >= l.interval }

// Dead reports whether the peer has been silent for LivenessFactor
// intervals.
func (l *Liveness) Dead(now time.Time) bool {
	return now.Sub(l.lastHeard) >= LivenessFactor*l.interval
}

// Silence is how long the peer has been silent.
func (l *Liveness) Silence(now time.Time) time.Duration { return now.Sub(l.lastHeard) }

package demo

import "sync"

// Ledger matches acknowledged messages with records consumed at the hub.
// Messages are identified by (device ID, per-device sequence number);
// sequences start at 1.
type Ledger struct {
	mu      sync.Mutex
	devs    map[string]*device // protected by mu
	acked   uint64             // distinct acknowledged messages; protected by mu
	atHub   uint64             // distinct messages consumed at the hub; protected by mu
	dups    uint64             // hub records whose message was already consumed; protected by mu
	foreign uint64             // hub records that carry no simulator sequence; protected by mu
}

type device struct {
	acked, hub seqSet
}

// Counts is the ledger at one moment.
type Counts struct {
	Acked      uint64 // distinct messages the fleet saw acknowledged
	AtHub      uint64 // distinct messages consumed at the hub
	Duplicates uint64 // hub records consumed more than once
	Foreign    uint64 // hub records not from the simulated fleet
	// Missing are acknowledged messages not (yet) consumed at the hub:
	// in transit while the demo runs, lost if any remain once it drained.
	Missing uint64
	// Unacked are messages at the hub the fleet never saw acknowledged
	// (in flight when the fleet stopped: MQTT QoS 1 is at least once).
	Unacked uint64
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{devs: map[string]*device{}} }

func (l *Ledger) dev(id string) *device {
	d := l.devs[id]
	if d == nil {
		d = &device{}
		l.devs[id] = d
	}
	return d
}

// Ack records that device id's message seq was acknowledged. A repeated
// acknowledgement counts once.
func (l *Ledger) Ack(id string, seq uint64) {
	if seq == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dev(id).acked.add(seq) {
		l.acked++
	}
}

// AtHub records that a record carrying device id's message seq was
// consumed at the hub. It reports false, and counts a duplicate, if that
// message had been consumed before.
func (l *Ledger) AtHub(id string, seq uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq == 0 {
		l.foreign++
		return true
	}
	if !l.dev(id).hub.add(seq) {
		l.dups++
		return false
	}
	l.atHub++
	return true
}

// Foreign records a hub record that is not from the simulated fleet.
func (l *Ledger) Foreign() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.foreign++
}

// Counts returns the ledger now. It walks every device: call it about once
// a second, not per message.
func (l *Ledger) Counts() Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := Counts{Acked: l.acked, AtHub: l.atHub, Duplicates: l.dups, Foreign: l.foreign}
	for _, d := range l.devs {
		c.Missing += d.acked.notIn(&d.hub)
		c.Unacked += d.hub.notIn(&d.acked)
	}
	return c
}

// Mark is the set of messages acknowledged at one moment.
type Mark struct {
	acked map[string]seqSet
	total uint64
}

// Total is the number of messages in the mark.
func (m Mark) Total() uint64 { return m.total }

// Mark returns the messages acknowledged so far.
func (l *Ledger) Mark() Mark {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := Mark{acked: make(map[string]seqSet, len(l.devs)), total: l.acked}
	for id, d := range l.devs {
		m.acked[id] = d.acked.clone()
	}
	return m
}

// Missing is how many of m's messages have not been consumed at the hub.
func (l *Ledger) Missing(m Mark) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n uint64
	for id, s := range m.acked {
		var hub *seqSet
		if d := l.devs[id]; d != nil {
			hub = &d.hub
		} else {
			hub = &seqSet{}
		}
		n += s.notIn(hub)
	}
	return n
}

// seqSet is a set of sequence numbers stored as a contiguous prefix
// 1..prefix plus the members above it, so that a device publishing in
// order costs a few words however long it runs.
type seqSet struct {
	prefix uint64              // every sequence in 1..prefix is a member
	above  map[uint64]struct{} // members greater than prefix+1
	n      uint64              // number of members
}

// add inserts seq (≥ 1) and reports whether it was new.
func (s *seqSet) add(seq uint64) bool {
	if s.has(seq) {
		return false
	}
	s.n++
	if seq != s.prefix+1 {
		if s.above == nil {
			s.above = map[uint64]struct{}{}
		}
		s.above[seq] = struct{}{}
		return true
	}
	s.prefix++
	for {
		if _, ok := s.above[s.prefix+1]; !ok {
			return true
		}
		delete(s.above, s.prefix+1)
		s.prefix++
	}
}

func (s *seqSet) has(seq uint64) bool {
	if seq <= s.prefix {
		return true
	}
	_, ok := s.above[seq]
	return ok
}

func (s *seqSet) clone() seqSet {
	c := seqSet{prefix: s.prefix, n: s.n}
	if len(s.above) > 0 {
		c.above = make(map[uint64]struct{}, len(s.above))
		for k := range s.above {
			c.above[k] = struct{}{}
		}
	}
	return c
}

// notIn counts the members of s that are not in t.
func (s *seqSet) notIn(t *seqSet) uint64 {
	var n uint64
	if s.prefix > t.prefix {
		// t holds 1..t.prefix and, of t.prefix+1..s.prefix, only what is
		// in t.above (all of whose members exceed t.prefix).
		n = s.prefix - t.prefix
		for k := range t.above {
			if k <= s.prefix {
				n--
			}
		}
	}
	for k := range s.above {
		if !t.has(k) {
			n++
		}
	}
	return n
}

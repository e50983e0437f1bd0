package group

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sort"
	"sync"
	"time"

	"github.com/edgelog/edgelog/hub"
)

// Config tunes the coordinator. The zero value means the defaults.
type Config struct {
	MinSessionTimeout time.Duration // default 1s
	MaxSessionTimeout time.Duration // default 30m
	MaxMembers        int           // per group (default 1000)
	// InitialRebalanceDelay holds the first rebalance of an empty group
	// this long so that members starting together join one generation
	// (Kafka's group.initial.rebalance.delay.ms). Default 0.
	InitialRebalanceDelay time.Duration
}

func (c *Config) validate() {
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = time.Second
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.MaxMembers <= 0 {
		c.MaxMembers = 1000
	}
}

// State is a group's state, named as Kafka names it.
type State string

// Group states.
const (
	Empty               State = "Empty"
	PreparingRebalance  State = "PreparingRebalance"
	CompletingRebalance State = "CompletingRebalance"
	Stable              State = "Stable"
	Dead                State = "Dead"
)

// Coordinator runs every consumer group of one broker.
type Coordinator struct {
	b   *hub.Broker
	cfg Config

	mu     sync.Mutex // protects groups, closed and everything inside groups
	groups map[string]*group
	closed bool

	stop chan struct{}
	done chan struct{}
}

type group struct {
	id           string
	state        State
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	pending      map[string]time.Time // member IDs handed out by MEMBER_ID_REQUIRED, until they expire
	rebalanceAt  time.Time            // PreparingRebalance: when to complete without the stragglers
}

type member struct {
	id, instanceID, clientID, clientHost string
	protocols                            []Protocol
	sessionTimeout, rebalanceTimeout     time.Duration
	deadline                             time.Time // session expiry
	assignment                           []byte
	joinCh                               chan JoinResult // set while a JoinGroup waits
	syncCh                               chan syncResult // set while a SyncGroup waits
	joinedAt                             int64           // join order, for electing a leader
}

// Protocol is one assignor a member supports, with its metadata.
type Protocol struct {
	Name     string
	Metadata []byte
}

// New starts a coordinator for b.
func New(b *hub.Broker, cfg Config) *Coordinator {
	cfg.validate()
	c := &Coordinator{b: b, cfg: cfg, groups: map[string]*group{}, stop: make(chan struct{}), done: make(chan struct{})}
	go c.reap()
	return c
}

// Close stops the coordinator; waiting Join and Sync calls fail.
func (c *Coordinator) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for _, g := range c.groups {
		for _, m := range g.members {
			c.failWaiters(m, ErrClosed)
		}
	}
	c.mu.Unlock()
	close(c.stop)
	<-c.done
}

// reap expires members and completes timed-out rebalances.
func (c *Coordinator) reap() {
	defer close(c.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.mu.Lock()
			for _, g := range c.groups {
				c.tick(g, now)
			}
			c.mu.Unlock()
		}
	}
}

// tick applies session and rebalance deadlines to g; mu held.
func (c *Coordinator) tick(g *group, now time.Time) {
	for id, exp := range g.pending {
		if now.After(exp) {
			delete(g.pending, id)
		}
	}
	if g.state == PreparingRebalance && !now.Before(g.rebalanceAt) {
		for id, m := range g.members {
			if m.joinCh == nil {
				c.removeMember(g, id)
			}
		}
		c.completeJoin(g)
		return
	}
	for id, m := range g.members {
		// A member waiting in JoinGroup or SyncGroup is alive.
		if m.joinCh == nil && m.syncCh == nil && now.After(m.deadline) {
			c.removeMember(g, id)
			c.prepareRebalance(g)
			c.maybeCompleteJoin(g)
		}
	}
	if len(g.members) == 0 && len(g.pending) == 0 && g.state == Empty && len(c.b.GroupOffsets(g.id)) == 0 {
		delete(c.groups, g.id)
	}
}

func newMemberID(clientID string) string {
	var b [16]byte
	rand.Read(b[:])
	if len(clientID) > 64 {
		clientID = clientID[:64]
	}
	return clientID + "-" + hex.EncodeToString(b[:])
}

// getGroup returns (creating) a group; mu held.
func (c *Coordinator) getGroup(id string) *group {
	g, ok := c.groups[id]
	if !ok {
		g = &group{id: id, state: Empty, members: map[string]*member{}, pending: map[string]time.Time{}}
		c.groups[id] = g
	}
	return g
}

// removeMember drops a member, failing its waiters; mu held.
func (c *Coordinator) removeMember(g *group, id string) {
	m, ok := g.members[id]
	if !ok {
		return
	}
	c.failWaiters(m, ErrUnknownMember)
	delete(g.members, id)
	if g.leader == id {
		g.leader = ""
	}
}

func (c *Coordinator) failWaiters(m *member, err error) {
	if m.joinCh != nil {
		m.joinCh <- JoinResult{Err: err}
		m.joinCh = nil
	}
	if m.syncCh != nil {
		m.syncCh <- syncResult{err: err}
		m.syncCh = nil
	}
}

// prepareRebalance moves g to PreparingRebalance (or Empty without
// members); mu held.
func (c *Coordinator) prepareRebalance(g *group) {
	if len(g.members) == 0 {
		g.state, g.leader, g.protocol = Empty, "", ""
		g.generation++
		return
	}
	if g.state == PreparingRebalance {
		return
	}
	// Members waiting in SyncGroup learn that they must rejoin.
	for _, m := range g.members {
		if m.syncCh != nil {
			m.syncCh <- syncResult{err: ErrRebalanceInProgress}
			m.syncCh = nil
		}
	}
	var timeout time.Duration
	for _, m := range g.members {
		timeout = max(timeout, m.rebalanceTimeout)
	}
	if g.state == Empty {
		timeout = c.cfg.InitialRebalanceDelay
	}
	g.state = PreparingRebalance
	g.rebalanceAt = time.Now().Add(timeout)
}

// GroupSummary is one entry of List.
type GroupSummary struct {
	ID           string
	ProtocolType string
	State        State
}

// List returns every group with members, plus groups that only have
// committed offsets (as Empty), sorted by ID.
func (c *Coordinator) List() []GroupSummary {
	seen := map[string]bool{}
	var out []GroupSummary
	c.mu.Lock()
	for _, g := range c.groups {
		seen[g.id] = true
		pt := g.protocolType
		if pt == "" {
			pt = "consumer"
		}
		out = append(out, GroupSummary{ID: g.id, ProtocolType: pt, State: g.state})
	}
	c.mu.Unlock()
	for _, id := range c.b.OffsetGroups() {
		if !seen[id] {
			out = append(out, GroupSummary{ID: id, ProtocolType: "consumer", State: Empty})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// MemberInfo describes one member (DescribeGroups).
type MemberInfo struct {
	ID, InstanceID, ClientID, ClientHost string
	Metadata, Assignment                 []byte
}

// GroupInfo describes one group (DescribeGroups).
type GroupInfo struct {
	ID, ProtocolType, Protocol string
	State                      State
	Generation                 int32
	Members                    []MemberInfo
}

// Describe returns a group's state; an unknown group is Dead.
func (c *Coordinator) Describe(id string) GroupInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.groups[id]
	if !ok {
		if len(c.b.GroupOffsets(id)) > 0 {
			return GroupInfo{ID: id, State: Empty, ProtocolType: "consumer"}
		}
		return GroupInfo{ID: id, State: Dead}
	}
	info := GroupInfo{ID: id, ProtocolType: g.protocolType, Protocol: g.protocol, State: g.state, Generation: g.generation}
	ids := make([]string, 0, len(g.members))
	for mid := range g.members {
		ids = append(ids, mid)
	}
	sort.Strings(ids)
	for _, mid := range ids {
		m := g.members[mid]
		mi := MemberInfo{ID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost}
		if g.state == Stable || g.state == CompletingRebalance {
			mi.Metadata = m.metadataFor(g.protocol)
		}
		if g.state == Stable {
			mi.Assignment = m.assignment
		}
		info.Members = append(info.Members, mi)
	}
	return info
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// waitCtx returns a context for a blocking call bounded by d.
func waitCtx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

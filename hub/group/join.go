package group

import (
	"context"
	"fmt"
	"time"

	"github.com/edgelog/edgelog/hub"
)

// JoinRequest is a JoinGroup.
type JoinRequest struct {
	Group, MemberID, InstanceID, ClientID, ClientHost, ProtocolType string
	Protocols                                                       []Protocol
	SessionTimeout, RebalanceTimeout                                time.Duration
	// RequireKnownMemberID: a member without an ID gets one with
	// ErrMemberIDRequired and must join again with it (JoinGroup v4+).
	RequireKnownMemberID bool
}

// JoinResult is the answer to a JoinGroup. Members is filled for the
// leader only.
type JoinResult struct {
	Err                                      error
	Generation                               int32
	ProtocolType, Protocol, Leader, MemberID string
	Members                                  []MemberInfo
}

// Join adds or refreshes a member and waits until the rebalance it takes
// part in completes (or ctx ends).
func (c *Coordinator) Join(ctx context.Context, req JoinRequest) JoinResult {
	if err := hub.ValidGroupID(req.Group); err != nil {
		return JoinResult{Err: err}
	}
	if req.SessionTimeout < c.cfg.MinSessionTimeout || req.SessionTimeout > c.cfg.MaxSessionTimeout {
		return JoinResult{Err: fmt.Errorf("%w: %v not in [%v, %v]", ErrInvalidSessionTimeout, req.SessionTimeout, c.cfg.MinSessionTimeout, c.cfg.MaxSessionTimeout)}
	}
	if req.RebalanceTimeout <= 0 {
		req.RebalanceTimeout = req.SessionTimeout
	}
	if req.ProtocolType == "" || len(req.Protocols) == 0 {
		return JoinResult{Err: fmt.Errorf("%w: no protocol", ErrInconsistentProtocol)}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return JoinResult{Err: ErrClosed}
	}
	g := c.getGroup(req.Group)
	res, ch := c.joinLocked(g, req)
	c.mu.Unlock()
	if ch == nil {
		return res
	}
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		c.mu.Lock()
		if m, ok := g.members[res.MemberID]; ok && m.joinCh == ch {
			m.joinCh = nil
		}
		c.mu.Unlock()
		return JoinResult{Err: ctx.Err()}
	}
}

// joinLocked registers the join; it returns either a final result (ch nil)
// or the channel the result will arrive on (res.MemberID set); mu held.
func (c *Coordinator) joinLocked(g *group, req JoinRequest) (JoinResult, chan JoinResult) {
	if len(g.members) > 0 && g.protocolType != req.ProtocolType {
		return JoinResult{Err: fmt.Errorf("%w: protocol type %q, group has %q", ErrInconsistentProtocol, req.ProtocolType, g.protocolType)}, nil
	}
	now := time.Now()
	id := req.MemberID
	m, known := g.members[id]
	switch {
	case id == "" && req.RequireKnownMemberID:
		id = newMemberID(req.ClientID)
		g.pending[id] = now.Add(req.SessionTimeout)
		return JoinResult{Err: ErrMemberIDRequired, MemberID: id}, nil
	case id == "":
		id = newMemberID(req.ClientID)
	case !known:
		if _, ok := g.pending[id]; !ok {
			return JoinResult{Err: ErrUnknownMember, MemberID: id}, nil
		}
		delete(g.pending, id)
	}
	if !known {
		if len(g.members) >= c.cfg.MaxMembers {
			return JoinResult{Err: ErrGroupFull, MemberID: id}, nil
		}
		if !c.sharesProtocol(g, req.Protocols) {
			return JoinResult{Err: fmt.Errorf("%w: no protocol in common with the group", ErrInconsistentProtocol)}, nil
		}
		m = &member{id: id, joinedAt: now.UnixNano()}
		g.members[id] = m
	}
	g.protocolType = req.ProtocolType
	m.instanceID, m.clientID, m.clientHost = req.InstanceID, req.ClientID, req.ClientHost
	m.protocols = req.Protocols
	m.sessionTimeout, m.rebalanceTimeout = req.SessionTimeout, req.RebalanceTimeout
	m.deadline = now.Add(req.SessionTimeout)
	if m.joinCh != nil {
		m.joinCh <- JoinResult{Err: ErrRebalanceInProgress}
	}
	ch := make(chan JoinResult, 1)
	m.joinCh = ch
	initial := g.state == Empty
	if g.state != PreparingRebalance {
		c.prepareRebalance(g)
	}
	if !initial || c.cfg.InitialRebalanceDelay == 0 {
		c.maybeCompleteJoin(g)
	}
	return JoinResult{MemberID: id}, ch
}

// sharesProtocol reports whether protocols has one every member supports;
// mu held.
func (c *Coordinator) sharesProtocol(g *group, protocols []Protocol) bool {
	for _, p := range protocols {
		ok := true
		for _, m := range g.members {
			if !m.supports(p.Name) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (m *member) supports(name string) bool {
	for _, p := range m.protocols {
		if p.Name == name {
			return true
		}
	}
	return false
}

// maybeCompleteJoin completes the rebalance once every member has joined;
// mu held.
func (c *Coordinator) maybeCompleteJoin(g *group) {
	if g.state != PreparingRebalance {
		return
	}
	for _, m := range g.members {
		if m.joinCh == nil {
			return
		}
	}
	c.completeJoin(g)
}

// completeJoin starts a new generation with the members that joined and
// answers their JoinGroups; mu held.
func (c *Coordinator) completeJoin(g *group) {
	g.generation++
	if len(g.members) == 0 {
		g.state, g.leader, g.protocol = Empty, "", ""
		return
	}
	if _, ok := g.members[g.leader]; !ok {
		g.leader = ""
		for id, m := range g.members {
			if g.leader == "" || m.joinedAt < g.members[g.leader].joinedAt {
				g.leader = id
			}
		}
	}
	g.protocol = c.chooseProtocol(g)
	g.state = CompletingRebalance
	var all []MemberInfo
	for id, m := range g.members {
		all = append(all, MemberInfo{ID: id, InstanceID: m.instanceID, Metadata: m.metadataFor(g.protocol)})
	}
	now := time.Now()
	for id, m := range g.members {
		r := JoinResult{Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: g.leader, MemberID: id}
		if id == g.leader {
			r.Members = all
		}
		m.assignment = nil
		m.deadline = now.Add(m.sessionTimeout)
		if m.joinCh != nil {
			m.joinCh <- r
			m.joinCh = nil
		}
	}
}

// chooseProtocol picks, among the protocols every member supports, the one
// most members list first; ties go to the leader's preference; mu held.
func (c *Coordinator) chooseProtocol(g *group) string {
	leader := g.members[g.leader]
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if c.allSupport(g, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", -1
	for _, p := range leader.protocols {
		if c.allSupport(g, p.Name) && votes[p.Name] > bestVotes {
			best, bestVotes = p.Name, votes[p.Name]
		}
	}
	return best
}

func (c *Coordinator) allSupport(g *group, name string) bool {
	for _, m := range g.members {
		if !m.supports(name) {
			return false
		}
	}
	return true
}

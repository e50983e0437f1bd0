package group

import (
	"context"
	"fmt"
	"time"

	"github.com/edgelog/edgelog/hub"
)

// SyncRequest is a SyncGroup; Assignments are the leader's, by member ID.
type SyncRequest struct {
	Group, MemberID        string
	Generation             int32
	ProtocolType, Protocol *string // checked when set (SyncGroup v5+)
	Assignments            map[string][]byte
}

// SyncResult is the answer to a SyncGroup.
type SyncResult struct {
	Assignment             []byte
	ProtocolType, Protocol string
}

type syncResult struct {
	assignment []byte
	err        error
}

// Sync delivers the leader's assignment; followers wait for it.
func (c *Coordinator) Sync(ctx context.Context, req SyncRequest) (SyncResult, error) {
	c.mu.Lock()
	g, m, err := c.memberOf(req.Group, req.MemberID, req.Generation)
	if err != nil {
		c.mu.Unlock()
		return SyncResult{}, err
	}
	res := SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		c.mu.Unlock()
		return res, fmt.Errorf("%w: sync for %v/%v, group uses %s/%s", ErrInconsistentProtocol, req.ProtocolType, req.Protocol, g.protocolType, g.protocol)
	}
	m.deadline = time.Now().Add(m.sessionTimeout)
	switch g.state {
	case PreparingRebalance:
		c.mu.Unlock()
		return res, ErrRebalanceInProgress
	case Stable:
		res.Assignment = m.assignment
		c.mu.Unlock()
		return res, nil
	}
	// CompletingRebalance.
	if m.id == g.leader {
		for id, om := range g.members {
			om.assignment = req.Assignments[id]
			if om.syncCh != nil {
				om.syncCh <- syncResult{assignment: om.assignment}
				om.syncCh = nil
			}
		}
		g.state = Stable
		res.Assignment = m.assignment
		c.mu.Unlock()
		return res, nil
	}
	if m.syncCh != nil {
		m.syncCh <- syncResult{err: ErrRebalanceInProgress}
	}
	ch := make(chan syncResult, 1)
	m.syncCh = ch
	timeout := m.sessionTimeout
	c.mu.Unlock()
	ctx, cancel := waitCtx(ctx, timeout)
	defer cancel()
	select {
	case r := <-ch:
		res.Assignment = r.assignment
		return res, r.err
	case <-ctx.Done():
		c.mu.Lock()
		if m.syncCh == ch {
			m.syncCh = nil
		}
		c.mu.Unlock()
		return res, ErrRebalanceInProgress
	}
}

// memberOf checks a member of the current generation; mu held.
func (c *Coordinator) memberOf(groupID, memberID string, generation int32) (*group, *member, error) {
	if c.closed {
		return nil, nil, ErrClosed
	}
	g, ok := c.groups[groupID]
	if !ok {
		return nil, nil, ErrUnknownMember
	}
	m, ok := g.members[memberID]
	if !ok {
		return nil, nil, ErrUnknownMember
	}
	if generation != g.generation {
		return nil, nil, fmt.Errorf("%w: %d, current %d", ErrIllegalGeneration, generation, g.generation)
	}
	return g, m, nil
}

// Heartbeat keeps a member alive; ErrRebalanceInProgress tells it to rejoin.
func (c *Coordinator) Heartbeat(groupID, memberID string, generation int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, m, err := c.memberOf(groupID, memberID, generation)
	if err != nil {
		return err
	}
	m.deadline = time.Now().Add(m.sessionTimeout)
	if g.state == PreparingRebalance {
		return ErrRebalanceInProgress
	}
	return nil
}

// Leave removes members; the result has one error (or nil) per member ID.
func (c *Coordinator) Leave(groupID string, memberIDs []string) []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	errs := make([]error, len(memberIDs))
	g, ok := c.groups[groupID]
	for i, id := range memberIDs {
		if !ok || g.members[id] == nil {
			errs[i] = ErrUnknownMember
			continue
		}
		c.removeMember(g, id)
		c.prepareRebalance(g)
		c.maybeCompleteJoin(g)
	}
	return errs
}

// CommitOffsets stores offsets for a member of the current generation, or
// for a client outside any generation (generation < 0, no member ID) while
// the group has no members.
func (c *Coordinator) CommitOffsets(ctx context.Context, groupID, memberID string, generation int32, offs map[hub.TopicPartition]hub.CommittedOffset) error {
	if err := hub.ValidGroupID(groupID); err != nil {
		return err
	}
	c.mu.Lock()
	if generation < 0 && memberID == "" {
		if g, ok := c.groups[groupID]; ok && len(g.members) > 0 {
			c.mu.Unlock()
			return ErrUnknownMember
		}
	} else {
		g, m, err := c.memberOf(groupID, memberID, generation)
		if err != nil {
			c.mu.Unlock()
			return err
		}
		if g.state == CompletingRebalance {
			c.mu.Unlock()
			return ErrRebalanceInProgress
		}
		m.deadline = time.Now().Add(m.sessionTimeout)
	}
	c.mu.Unlock()
	return c.b.CommitOffsets(ctx, groupID, offs)
}

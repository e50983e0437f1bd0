package kafka

import (
	"context"
	"net"
	"time"

	"github.com/edgelog/edgelog/hub/group"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleJoinGroup waits for the rebalance on the writer goroutine.
func handleJoinGroup(_ context.Context, c *conn, h header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.JoinGroupRequest)
	jr := group.JoinRequest{
		Group: req.Group, MemberID: req.MemberID, ClientID: h.clientID, ClientHost: hostOf(c.remote),
		ProtocolType:         req.ProtocolType,
		SessionTimeout:       time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout:     time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		RequireKnownMemberID: req.Version >= 4,
	}
	if req.InstanceID != nil {
		jr.InstanceID = *req.InstanceID
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	return func(ctx context.Context) kmsg.Response {
		res := c.s.groups.Join(ctx, jr)
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = errorCode(res.Err)
		resp.MemberID = res.MemberID
		resp.Generation = -1
		if res.Err != nil {
			return resp
		}
		resp.Generation, resp.LeaderID = res.Generation, res.Leader
		resp.ProtocolType, resp.Protocol = &res.ProtocolType, &res.Protocol
		for _, m := range res.Members {
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID, rm.ProtocolMetadata = m.ID, m.Metadata
			if m.InstanceID != "" {
				id := m.InstanceID
				rm.InstanceID = &id
			}
			resp.Members = append(resp.Members, rm)
		}
		return resp
	}
}

// hostOf is the host part of a host:port address.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

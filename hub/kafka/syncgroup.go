package kafka

import (
	"context"

	"github.com/edgelog/edgelog/hub/group"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleSyncGroup waits for the leader's assignment on the writer goroutine.
func handleSyncGroup(_ context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.SyncGroupRequest)
	sr := group.SyncRequest{Group: req.Group, MemberID: req.MemberID, Generation: req.Generation,
		ProtocolType: req.ProtocolType, Protocol: req.Protocol, Assignments: map[string][]byte{}}
	for _, a := range req.GroupAssignment {
		sr.Assignments[a.MemberID] = a.MemberAssignment
	}
	return func(ctx context.Context) kmsg.Response {
		res, err := c.s.groups.Sync(ctx, sr)
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = errorCode(err)
		resp.ProtocolType, resp.Protocol = &res.ProtocolType, &res.Protocol
		resp.MemberAssignment = res.Assignment
		if resp.MemberAssignment == nil {
			resp.MemberAssignment = []byte{}
		}
		return resp
	}
}

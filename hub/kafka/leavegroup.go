package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleLeaveGroup(_ context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if req.Version < 3 {
		resp.ErrorCode = errorCode(c.s.groups.Leave(req.Group, []string{req.MemberID})[0])
		return now(resp)
	}
	ids := make([]string, len(req.Members))
	for i, m := range req.Members {
		ids[i] = m.MemberID
	}
	errs := c.s.groups.Leave(req.Group, ids)
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, errorCode(errs[i])
		resp.Members = append(resp.Members, rm)
	}
	return now(resp)
}

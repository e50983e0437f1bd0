package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleFindCoordinator: the one broker coordinates every group. Only
// group coordinators exist (no transactions).
func handleFindCoordinator(_ context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if req.CoordinatorType != 0 {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		resp.NodeID = -1
		msg := "only consumer groups are coordinated here"
		resp.ErrorMessage = &msg
		return now(resp)
	}
	resp.NodeID, resp.Host, resp.Port = c.s.cfg.NodeID, c.host, c.port
	return now(resp)
}

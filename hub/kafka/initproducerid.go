package kafka

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleInitProducerID issues producer IDs for idempotent producers (not
// transactional ones). A client that asks to bump the epoch of an ID it
// holds (KIP-360) gets the next epoch; at the epoch limit, a new ID.
func handleInitProducerID(ctx context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return now(resp)
	}
	if req.Version >= 3 && req.ProducerID >= 0 && req.ProducerEpoch >= 0 && req.ProducerEpoch < math.MaxInt16-1 && c.s.b.IssuedProducerID(req.ProducerID) {
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
		return now(resp)
	}
	id, err := c.s.b.NewProducerID(ctx)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return now(resp)
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return now(resp)
}

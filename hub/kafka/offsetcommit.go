package kafka

import (
	"context"

	"github.com/edgelog/edgelog/hub"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleOffsetCommit stores the offsets durably before answering; the
// commit is all or nothing, so every partition gets the same error code,
// except partitions that do not exist or whose metadata is too large.
func handleOffsetCommit(_ context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	offs := map[hub.TopicPartition]hub.CommittedOffset{}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			var md string
			if rp.Metadata != nil {
				md = *rp.Metadata
			}
			if _, err := c.s.b.Partition(rt.Topic, rp.Partition); err != nil {
				sp.ErrorCode = errorCode(err)
			} else if len(md) > hub.MaxOffsetMetadata {
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			} else {
				offs[hub.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = hub.CommittedOffset{Offset: rp.Offset, LeaderEpoch: rp.LeaderEpoch, Metadata: md}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return func(ctx context.Context) kmsg.Response {
		code := int16(0)
		if len(offs) > 0 {
			code = errorCode(c.s.groups.CommitOffsets(ctx, req.Group, req.MemberID, req.Generation, offs))
		}
		for ti := range resp.Topics {
			for pi := range resp.Topics[ti].Partitions {
				if sp := &resp.Topics[ti].Partitions[pi]; sp.ErrorCode == 0 {
					sp.ErrorCode = code
				}
			}
		}
		return resp
	}
}

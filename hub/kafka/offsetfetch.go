package kafka

import (
	"context"
	"sort"

	"github.com/edgelog/edgelog/hub"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleOffsetFetch returns committed offsets (-1 where none); no topics
// (v2+) means every partition the group has committed.
func handleOffsetFetch(_ context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if err := hub.ValidGroupID(req.Group); err != nil {
		resp.ErrorCode = errorCode(err)
		return now(resp)
	}
	b := c.s.b
	part := func(topic string, p int32) kmsg.OffsetFetchResponseTopicPartition {
		sp := kmsg.NewOffsetFetchResponseTopicPartition()
		sp.Partition, sp.Offset, sp.LeaderEpoch = p, -1, -1
		if off, ok := b.CommittedOffset(req.Group, topic, p); ok {
			sp.Offset, sp.LeaderEpoch = off.Offset, off.LeaderEpoch
			md := off.Metadata
			sp.Metadata = &md
		}
		return sp
	}
	if req.Topics == nil && req.Version >= 2 {
		byTopic := map[string][]int32{}
		for tp := range b.GroupOffsets(req.Group) {
			byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
		}
		topics := make([]string, 0, len(byTopic))
		for t := range byTopic {
			topics = append(topics, t)
		}
		sort.Strings(topics)
		for _, t := range topics {
			st := kmsg.NewOffsetFetchResponseTopic()
			st.Topic = t
			ps := byTopic[t]
			sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
			for _, p := range ps {
				st.Partitions = append(st.Partitions, part(t, p))
			}
			resp.Topics = append(resp.Topics, st)
		}
		return now(resp)
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			st.Partitions = append(st.Partitions, part(rt.Topic, p))
		}
		resp.Topics = append(resp.Topics, st)
	}
	return now(resp)
}

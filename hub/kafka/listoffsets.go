package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListOffsets special timestamps.
const (
	latestTimestamp   = -1
	earliestTimestamp = -2
)

func handleListOffsets(_ context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, 0
			p, err := c.s.b.Partition(rt.Topic, rp.Partition)
			if err == nil {
				start, hw, _ := p.Offsets()
				switch rp.Timestamp {
				case latestTimestamp:
					sp.Offset = hw
				case earliestTimestamp:
					sp.Offset = start
				default:
					if rp.Timestamp < 0 {
						err = errBadTimestamp
						break
					}
					sp.Offset, sp.Timestamp, err = p.OffsetForTime(rp.Timestamp)
				}
			}
			sp.ErrorCode = listOffsetsErrorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return now(resp)
}

var errBadTimestamp = errors.New("kafka: unsupported ListOffsets timestamp")

func listOffsetsErrorCode(err error) int16 {
	if errors.Is(err, errBadTimestamp) {
		return kerr.InvalidRequest.Code
	}
	return errorCode(err)
}

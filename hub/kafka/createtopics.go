package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	errReplication = errors.New("kafka: the hub keeps one replica")
	errAssignment  = errors.New("kafka: replica assignments are not supported")
)

// topicConfigFromKafka reads the topic configs the hub understands.
func topicConfigFromKafka(partitions int32, configs []kmsg.CreateTopicsRequestTopicConfig) (hub.TopicConfig, error) {
	tc := hub.TopicConfig{}
	if partitions > 0 {
		tc.Partitions = int(partitions)
	} else if partitions != -1 {
		return tc, fmt.Errorf("%w: %d", hub.ErrInvalidPartitions, partitions)
	}
	for _, c := range configs {
		if c.Value == nil {
			continue
		}
		v, err := strconv.ParseInt(*c.Value, 10, 64)
		switch c.Name {
		case "retention.ms":
			if err == nil {
				if v < 0 {
					v = -1
				}
				tc.RetentionAge = time.Duration(v) * time.Millisecond
			}
		case "retention.bytes":
			tc.RetentionBytes = v
			if err == nil && v == 0 {
				err = fmt.Errorf("0")
			}
		case "segment.bytes":
			tc.SegmentBytes = v
			if err == nil && v < 1024 {
				err = fmt.Errorf("below 1024")
			}
		case "cleanup.policy":
			if *c.Value != "delete" {
				err = fmt.Errorf("only delete is supported")
			} else {
				err = nil
			}
		default:
			err = fmt.Errorf("not supported")
		}
		if err != nil {
			return tc, fmt.Errorf("%w: %s=%s: %v", hub.ErrInvalidConfig, c.Name, *c.Value, err)
		}
	}
	return tc, nil
}

func handleCreateTopics(ctx context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		tc, err := topicConfigFromKafka(rt.NumPartitions, rt.Configs)
		switch {
		case err != nil:
		case rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1:
			err = errReplication
		case len(rt.ReplicaAssignment) > 0:
			err = errAssignment
		case req.ValidateOnly:
			err = hub.ValidTopicName(rt.Topic)
			if _, terr := c.s.b.Topic(rt.Topic); err == nil && terr == nil {
				err = hub.ErrTopicExists
			}
		default:
			var t *hub.Topic
			if t, err = c.s.b.CreateTopic(ctx, rt.Topic, tc); err == nil {
				st.NumPartitions, st.ReplicationFactor = int32(t.Partitions()), 1
			}
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = adminErrorCode(err), errorMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return now(resp)
}

func adminErrorCode(err error) int16 {
	switch {
	case errors.Is(err, errReplication):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, errAssignment):
		return kerr.InvalidReplicaAssignment.Code
	}
	return errorCode(err)
}

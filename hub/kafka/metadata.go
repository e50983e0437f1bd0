package kafka

import (
	"context"
	"errors"

	"github.com/edgelog/edgelog/hub"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterID names the one-broker cluster a hub presents.
const clusterID = "edgelog-hub"

func handleMetadata(ctx context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	s := c.s
	br := kmsg.NewMetadataResponseBroker()
	br.NodeID, br.Host, br.Port = s.cfg.NodeID, c.host, c.port
	resp.Brokers = []kmsg.MetadataResponseBroker{br}
	cid := clusterID
	resp.ClusterID = &cid
	resp.ControllerID = s.cfg.NodeID
	// Before v4 a request cannot refuse auto-creation; v1+ sends an empty
	// list for "no topics" and null for "all".
	autoCreate := s.b.AutoCreate() && (req.Version < 4 || req.AllowAutoTopicCreation)
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		for _, t := range s.b.Topics() {
			resp.Topics = append(resp.Topics, s.topicMetadata(t.Name(), t, nil))
		}
		return now(resp)
	}
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			continue
		}
		name := *rt.Topic
		var t *hub.Topic
		var err error
		if autoCreate {
			t, _, err = s.b.EnsureTopic(ctx, name)
		} else {
			t, err = s.b.Topic(name)
		}
		resp.Topics = append(resp.Topics, s.topicMetadata(name, t, err))
	}
	return now(resp)
}

func (s *Server) topicMetadata(name string, t *hub.Topic, err error) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = &name
	if err != nil {
		mt.ErrorCode = errorCode(err)
		if !errors.Is(err, hub.ErrUnknownTopic) && !errors.Is(err, hub.ErrInvalidTopic) {
			s.log.Warn("kafka: metadata: topic", "topic", name, "err", err)
		}
		return mt
	}
	node := s.cfg.NodeID
	for i := 0; i < t.Partitions(); i++ {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader = node
		mp.LeaderEpoch = 0
		mp.Replicas = []int32{node}
		mp.ISR = []int32{node}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

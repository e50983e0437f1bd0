package kafka

import (
	"context"
	"strconv"

	"github.com/edgelog/edgelog/hub"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type configEntry struct {
	name, value string
	isDefault   bool
}

// topicConfigs are the basics admin tools ask for.
func topicConfigs(t *hub.Topic, b *hub.Broker) []configEntry {
	tc, def := t.Config(), b.Config()
	ms := tc.RetentionAge.Milliseconds()
	if tc.RetentionAge < 0 {
		ms = -1
	}
	return []configEntry{
		{"cleanup.policy", "delete", true},
		{"compression.type", "producer", true},
		{"max.message.bytes", strconv.Itoa(def.MaxBatch), true},
		{"message.timestamp.type", "CreateTime", true},
		{"min.insync.replicas", "1", true},
		{"retention.bytes", strconv.FormatInt(tc.RetentionBytes, 10), tc.RetentionBytes == def.RetentionBytes},
		{"retention.ms", strconv.FormatInt(ms, 10), tc.RetentionAge == def.RetentionAge},
		{"segment.bytes", strconv.FormatInt(tc.SegmentBytes, 10), tc.SegmentBytes == def.SegmentBytes},
		{"segment.ms", strconv.FormatInt(def.SegmentAge.Milliseconds(), 10), true},
	}
}

func brokerConfigs(b *hub.Broker) []configEntry {
	cfg := b.Config()
	ms := cfg.RetentionAge.Milliseconds()
	if cfg.RetentionAge < 0 {
		ms = -1
	}
	return []configEntry{
		{"auto.create.topics.enable", strconv.FormatBool(!cfg.DisableAutoCreate), false},
		{"log.retention.bytes", strconv.FormatInt(cfg.RetentionBytes, 10), false},
		{"log.retention.ms", strconv.FormatInt(ms, 10), false},
		{"log.segment.bytes", strconv.FormatInt(cfg.SegmentBytes, 10), false},
		{"num.partitions", strconv.Itoa(cfg.Partitions), false},
		{"default.replication.factor", "1", true},
		{"offsets.topic.replication.factor", "1", true},
	}
}

func handleDescribeConfigs(_ context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, res := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		var entries []configEntry
		source := kmsg.ConfigSourceDynamicTopicConfig
		switch res.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, err := c.s.b.Topic(res.ResourceName)
			if err != nil {
				rr.ErrorCode, rr.ErrorMessage = errorCode(err), errorMessage(err)
				break
			}
			entries = topicConfigs(t, c.s.b)
		case kmsg.ConfigResourceTypeBroker:
			entries = brokerConfigs(c.s.b)
			source = kmsg.ConfigSourceStaticBrokerConfig
		default:
			rr.ErrorCode = kerr.InvalidRequest.Code
		}
		for _, e := range entries {
			if len(res.ConfigNames) > 0 && !contains(res.ConfigNames, e.name) {
				continue
			}
			rc := kmsg.NewDescribeConfigsResponseResourceConfig()
			v := e.value
			rc.Name, rc.Value, rc.ReadOnly, rc.IsDefault = e.name, &v, true, e.isDefault
			rc.Source = source
			if e.isDefault {
				rc.Source = kmsg.ConfigSourceDefaultConfig
			}
			rr.Configs = append(rr.Configs, rc)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return now(resp)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

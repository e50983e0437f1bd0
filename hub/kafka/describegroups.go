package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDescribeGroups(_ context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		info := c.s.groups.Describe(id)
		g := kmsg.NewDescribeGroupsResponseGroup()
		g.Group, g.State, g.ProtocolType, g.Protocol = id, string(info.State), info.ProtocolType, info.Protocol
		for _, m := range info.Members {
			rm := kmsg.NewDescribeGroupsResponseGroupMember()
			rm.MemberID, rm.ClientID, rm.ClientHost = m.ID, m.ClientID, m.ClientHost
			rm.ProtocolMetadata, rm.MemberAssignment = m.Metadata, m.Assignment
			if m.InstanceID != "" {
				iid := m.InstanceID
				rm.InstanceID = &iid
			}
			g.Members = append(g.Members, rm)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return now(resp)
}

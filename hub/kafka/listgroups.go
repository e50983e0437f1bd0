package kafka

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleListGroups(_ context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	for _, g := range c.s.groups.List() {
		if len(req.StatesFilter) > 0 && !containsFold(req.StatesFilter, string(g.State)) {
			continue
		}
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState = g.ID, g.ProtocolType, string(g.State)
		resp.Groups = append(resp.Groups, rg)
	}
	return now(resp)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

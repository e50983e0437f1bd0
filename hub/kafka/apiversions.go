package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func apiVersionsResponse(version int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = version
	for _, k := range apiKeys() {
		a := apis[k]
		v := kmsg.NewApiVersionsResponseApiKey()
		v.ApiKey, v.MinVersion, v.MaxVersion = k, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, v)
	}
	return resp
}

func handleApiVersions(_ context.Context, _ *conn, h header, _ kmsg.Request) respondFunc {
	return now(apiVersionsResponse(h.version))
}

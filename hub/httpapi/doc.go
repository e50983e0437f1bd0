// Package httpapi is the hub's HTTP API:
//
//	GET /healthz     200 while the process runs
//	GET /readyz      200 once every listener serves (Options.Ready), else 503
//	GET /metrics     Prometheus text format, from the broker's own registry
//	GET /v1/status   JSON: listeners, storage settings, totals
//	GET /v1/topics   JSON: every topic with its partitions' offsets and sizes
//	GET /v1/agents   JSON: every agent the hub knows (hub.AgentStatus)
//
// Only GET and HEAD are served; responses are never cached. The handler
// reads broker state and changes nothing.
package httpapi

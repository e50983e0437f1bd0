package agent

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestHTTPEndpoints: health, readiness without any hub, Prometheus metrics
// that move with traffic, and the status document.
func TestHTTPEndpoints(t *testing.T) {
	ta := startAgent(t, Config{Hub: "hub.example:7070"})
	if code, _ := httpGet(t, ta.Agent, "/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	if code, body := httpGet(t, ta.Agent, "/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %q with no hub reachable, want 200", code, body)
	}
	c := pahoConnect(t, ta.MQTTAddr(), "metered")
	waitToken(t, c.Publish("m/1", 1, false, []byte("12345")), "publish")
	waitToken(t, c.Publish("m/2", 2, false, []byte("67")), "publish")

	_, metrics := httpGet(t, ta.Agent, "/metrics")
	for _, want := range []string{
		`edgelog_agent_publishes_total{qos="1"} 1`,
		`edgelog_agent_publishes_total{qos="2"} 1`,
		`edgelog_agent_publish_bytes_total 7`,
		`edgelog_agent_clients_connected 1`,
		`edgelog_agent_wal_next_seq 3`,
		`edgelog_agent_unsynced_records 2`,
		`edgelog_agent_dropped_records_total 0`,
		`edgelog_agent_rejected_publishes_total{reason="quota"} 0`,
		`edgelog_agent_wal_fsync_seconds_count`,
		`edgelog_agent_ack_latency_seconds_count 2`,
		`edgelog_agent_wal_size_bytes`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	code, body := httpGet(t, ta.Agent, "/v1/status")
	if code != 200 {
		t.Fatalf("/v1/status = %d", code)
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/v1/status is not JSON: %v\n%s", err, body)
	}
	if st.State != "ready" || st.WAL.NextSeq != 3 || st.WAL.DurableSeq != 2 || st.Hub.Hub != "hub.example:7070" ||
		st.Hub.Connected || st.Hub.LagRecords != 2 || st.MQTT.ClientsConnected != 1 || st.Publishes["qos1"] != 1 || st.MQTT.Listeners["mqtt"] != ta.MQTTAddr() {
		t.Errorf("status %+v", st)
	}
}

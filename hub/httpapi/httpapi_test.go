package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/record"
)

func TestEndpoints(t *testing.T) {
	b, err := hub.Open(hub.Config{Dir: t.TempDir(), Partitions: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	recs := []hub.AgentRecord{
		{Seq: 1, Rec: record.Record{TimeMs: 1, ClientID: "d1", Topic: "telemetry/d1", Payload: []byte("a")}},
		{Seq: 2, Rec: record.Record{TimeMs: 2, ClientID: "d2", Topic: "telemetry/d2", Payload: []byte("b")}},
	}
	if _, err := b.Merge(ctx, "gw-1", "0123456789abcdef0123456789abcdef", recs); err != nil {
		t.Fatal(err)
	}
	b.AgentConnected("gw-1", "0123456789abcdef0123456789abcdef", "192.0.2.7:4242")
	ready := errors.New("kafka listener starting")
	srv := httptest.NewServer(Handler(b, Options{
		Ready:     func() error { return ready },
		Listeners: map[string]string{"kafka": "127.0.0.1:9092"},
		Groups:    func() map[string]int { return map[string]int{"Stable": 1} },
	}))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "starting") {
		t.Fatalf("readyz before ready: %d %s", code, body)
	}
	ready = nil
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz when ready: %d", code)
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, `edgelog_hub_partition_records{partition=`) || !strings.Contains(body, "edgelog_hub_merged_records_total 2") {
		t.Fatalf("metrics: %d\n%s", code, body)
	}
	var st Status
	_, body = get("/v1/status")
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Topics != 1 || st.Records != 2 || st.Agents.Connected != 1 || st.Storage.Fsync != "always" || st.Listeners["kafka"] == "" {
		t.Fatalf("status: %v %s", err, body)
	}
	var ts []Topic
	_, body = get("/v1/topics")
	if err := json.Unmarshal([]byte(body), &ts); err != nil || len(ts) != 1 || ts[0].Name != "telemetry" || len(ts[0].Partitions) != 2 || ts[0].Records != 2 {
		t.Fatalf("topics: %v %s", err, body)
	}
	var ags []hub.AgentStatus
	_, body = get("/v1/agents")
	if err := json.Unmarshal([]byte(body), &ags); err != nil || len(ags) != 1 || ags[0].ID != "gw-1" || !ags[0].Connected || ags[0].AckedSeq != 2 || ags[0].RemoteAddr != "192.0.2.7:4242" {
		t.Fatalf("agents: %v %s", err, body)
	}
	resp, err := http.Post(srv.URL+"/v1/topics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /v1/topics: %d", resp.StatusCode)
	}
}

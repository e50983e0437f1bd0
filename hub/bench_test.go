package hub

import (
	"context"
	"testing"
	"time"

	"github.com/edgelog/edgelog/record"
)

// BenchmarkMerge merges one agent's 200-byte records from 100 devices in
// batches of 500, with up to 8 merges in flight (as a sync session keeps
// several batches in flight), fsync always:
//
//	go test -run '^$' -bench Merge -benchtime 1000000x ./hub/
func BenchmarkMerge(b *testing.B) {
	br := openTestBroker(b, Config{})
	defer br.Close()
	ctx := context.Background()
	const batch = 500
	payload := make([]byte, 200)
	recs := make([]AgentRecord, 0, b.N)
	for i := 0; i < b.N; i++ {
		dev := "dev-" + string(rune('a'+i%26)) + string(rune('a'+i/26%4))
		recs = append(recs, AgentRecord{Seq: uint64(i + 1), Rec: record.Record{TimeMs: int64(i), ClientID: dev, Topic: "telemetry/" + dev, QoS: 1, Payload: payload}})
	}
	b.ResetTimer()
	start := time.Now()
	var pending []*PendingMerge
	for i := 0; i < len(recs); i += batch {
		pm, err := br.StartMerge(ctx, "a1", testEpoch, recs[i:min(i+batch, len(recs))])
		if err != nil {
			b.Fatal(err)
		}
		pending = append(pending, pm)
		if len(pending) == 8 {
			if _, err := pending[0].Wait(ctx); err != nil {
				b.Fatal(err)
			}
			pending = pending[1:]
		}
	}
	for _, pm := range pending {
		if _, err := pm.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	d := time.Since(start)
	b.ReportMetric(float64(b.N)/d.Seconds(), "records/s")
	b.ReportMetric(float64(b.N*200)/d.Seconds()/1e6, "MB/s")
	b.ReportMetric(0, "ns/op")
}

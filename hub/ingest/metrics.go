package ingest

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	sessions   prometheus.Gauge
	handshakes *prometheus.CounterVec // by result: ok or the refusal's code
	batches    prometheus.Counter
	records    prometheus.Counter
	wireBytes  prometheus.Counter
	rawBytes   prometheus.Counter
	gap        prometheus.Counter
	zeroRTT    prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "edgelog_hub_sync_sessions",
			Help: "Agent connections open (handshaking included)."}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgelog_hub_sync_handshakes_total",
			Help: "Agent handshakes by result: ok, or the refusal's protocol error."}, []string{"result"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_hub_sync_batches_total",
			Help: "Batches received from agents."}),
		records: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_hub_sync_records_total",
			Help: "Records received from agents (duplicates included)."}),
		wireBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_hub_sync_wire_bytes_total",
			Help: "Batch bytes received, as sent (compressed)."}),
		rawBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_hub_sync_raw_bytes_total",
			Help: "Batch bytes received, uncompressed."}),
		gap: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_hub_sync_gap_records_total",
			Help: "Records agents dropped (drop-oldest) before they reached the hub."}),
		zeroRTT: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_hub_sync_zero_rtt_total",
			Help: "Sessions whose Hello arrived as 0-RTT data."}),
	}
	for _, c := range []prometheus.Collector{m.sessions, m.handshakes, m.batches, m.records, m.wireBytes, m.rawBytes, m.gap, m.zeroRTT} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

package shipper

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	connected   prometheus.Gauge
	ackedSeq    prometheus.Gauge
	lagRecords  prometheus.Gauge
	lagBytes    prometheus.Gauge
	lagOldest   prometheus.Gauge
	batches     prometheus.Counter
	records     prometheus.Counter
	rawBytes    prometheus.Counter
	wireBytes   prometheus.Counter
	ratio       prometheus.Gauge
	reconnects  prometheus.Counter
	sessionErrs *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &metrics{
		connected:  g("edgelog_sync_connected", "1 while a sync session with the hub is established."),
		ackedSeq:   g("edgelog_sync_acked_seq", "Highest WAL sequence the hub acknowledged as durably merged."),
		lagRecords: g("edgelog_sync_lag_records", "Durable WAL records the hub has not acknowledged."),
		lagBytes:   g("edgelog_sync_lag_bytes", "Estimated WAL bytes the hub has not acknowledged."),
		lagOldest:  g("edgelog_sync_lag_oldest_seconds", "Age of the oldest record the hub has not acknowledged."),
		batches:    c("edgelog_sync_batches_total", "Batches sent."),
		records:    c("edgelog_sync_records_total", "Records sent (resent ones included)."),
		rawBytes:   c("edgelog_sync_raw_bytes_total", "Batch bytes before compression."),
		wireBytes:  c("edgelog_sync_wire_bytes_total", "Batch bytes as sent."),
		ratio:      g("edgelog_sync_compression_ratio", "Raw bytes over wire bytes, since start."),
		reconnects: c("edgelog_sync_reconnects_total", "Connection attempts after the first."),
		sessionErrs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgelog_sync_session_errors_total",
			Help: "Sessions ended by an error, by protocol code (transport: a network or QUIC error)."}, []string{"code"}),
	}
	for _, col := range []prometheus.Collector{m.connected, m.ackedSeq, m.lagRecords, m.lagBytes, m.lagOldest,
		m.batches, m.records, m.rawBytes, m.wireBytes, m.ratio, m.reconnects, m.sessionErrs} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

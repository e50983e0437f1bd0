package kafka

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reg                  *prometheus.Registry
	requests             *prometheus.CounterVec
	latency              *prometheus.HistogramVec
	connections          prometheus.Gauge
	refused, badRequests prometheus.Counter
	unsupported          prometheus.Counter
	authFailures         prometheus.Counter
	fetchedBytes         prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		reg:          reg,
		requests:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgelog_kafka_requests_total", Help: "Kafka requests answered, by API."}, []string{"api"}),
		latency:      prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "edgelog_kafka_request_seconds", Help: "Time from reading a request to its response being ready, by API (Fetch includes its long poll).", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, []string{"api"}),
		connections:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "edgelog_kafka_connections", Help: "Open Kafka connections."}),
		refused:      prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_kafka_connections_refused_total", Help: "Connections closed at once because of the connection limit."}),
		badRequests:  prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_kafka_bad_requests_total", Help: "Connections closed for a malformed or oversized request."}),
		unsupported:  prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_kafka_unsupported_requests_total", Help: "Requests for API keys or versions the hub does not serve."}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_kafka_auth_failures_total", Help: "Failed SASL authentications."}),
		fetchedBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_kafka_fetched_bytes_total", Help: "Record batch bytes served by Fetch."}),
	}
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.latency, m.connections, m.refused, m.badRequests, m.unsupported, m.authFailures, m.fetchedBytes}
}

func (m *metrics) unregister() {
	for _, c := range m.collectors() {
		m.reg.Unregister(c)
	}
}

func (m *metrics) observe(api string, d time.Duration) {
	m.requests.WithLabelValues(api).Inc()
	m.latency.WithLabelValues(api).Observe(d.Seconds())
}

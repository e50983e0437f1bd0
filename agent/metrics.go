package agent

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/edgelog/edgelog/wal"
)

// Reasons a publish is refused, the "reason" label of
// edgelog_agent_rejected_publishes_total.
const (
	reasonQuota        = "quota"
	reasonWALFailed    = "wal_failed"
	reasonShutdown     = "shutdown"
	reasonNotAuth      = "not_authorized"
	reasonTopic        = "invalid_topic"
	reasonProperties   = "invalid_properties"
	reasonTooLarge     = "packet_too_large"
	reasonReceiveMax   = "receive_maximum"
	reasonDuplicateQoS = "qos2_duplicate"
)

// metrics is the agent's per-instance Prometheus registry.
type metrics struct {
	reg        *prometheus.Registry
	publishes  [3]prometheus.Counter // by QoS
	bytes      prometheus.Counter
	rejected   *prometheus.CounterVec
	ackLatency prometheus.Histogram
	stalls     prometheus.Counter
	duplicates prometheus.Counter
	reopens    prometheus.Counter
}

func newMetrics(a *Agent) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	pubs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgelog_agent_publishes_total",
		Help: "Publishes stored in the WAL, by QoS.",
	}, []string{"qos"})
	for q, l := range []string{"0", "1", "2"} {
		m.publishes[q] = pubs.WithLabelValues(l)
	}
	m.bytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "edgelog_agent_publish_bytes_total",
		Help: "Payload bytes of publishes stored in the WAL.",
	})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgelog_agent_rejected_publishes_total",
		Help: "Publishes not stored, by reason.",
	}, []string{"reason"})
	for _, r := range []string{reasonQuota, reasonWALFailed, reasonShutdown, reasonNotAuth, reasonTopic, reasonProperties, reasonTooLarge, reasonReceiveMax} {
		m.rejected.WithLabelValues(r)
	}
	m.ackLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "edgelog_agent_ack_latency_seconds",
		Help:    "Time from receiving a QoS 1/2 publish to writing its PUBACK/PUBREC.",
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
	})
	m.stalls = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "edgelog_agent_pending_full_total",
		Help: "Times a connection's reading paused because MaxPending publishes awaited their commit.",
	})
	m.duplicates = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "edgelog_agent_duplicate_publishes_total",
		Help: "QoS 1/2 retransmissions (DUP) of a stored, not yet acknowledged publish, acknowledged without storing them again.",
	})
	m.reopens = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "edgelog_agent_wal_reopens_total",
		Help: "Times the WAL was reopened in place after a write or fsync failure.",
	})
	m.reg.MustRegister(pubs, m.bytes, m.rejected, m.ackLatency, m.stalls, m.duplicates, m.reopens,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edgelog_agent_clients_connected",
			Help: "MQTT clients connected.",
		}, func() float64 { return float64(atomic.LoadInt64(&a.server.Info.ClientsConnected)) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "edgelog_agent_local_dropped_total",
			Help: "Messages not delivered to a local subscriber because its outbound queue (or its QoS 1/2 inflight window) was full.",
		}, func() float64 {
			return float64(atomic.LoadInt64(&a.server.Info.MessagesDropped) + atomic.LoadInt64(&a.server.Info.InflightDropped))
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "edgelog_agent_write_timeouts_total",
			Help: "Clients disconnected because a write to them made no progress for the write timeout (subscribers that stopped reading).",
		}, func() float64 { return float64(a.writeTimeouts.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edgelog_agent_ready",
			Help: "1 when the agent accepts publishes.",
		}, func() float64 { return b2f(a.Ready()) }),
		&walCollector{a: a},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// walCollector reports the WAL, quota and sync state at scrape time.
type walCollector struct{ a *Agent }

var (
	descWALSize      = prometheus.NewDesc("edgelog_agent_wal_size_bytes", "WAL size on disk.", nil, nil)
	descWALMax       = prometheus.NewDesc("edgelog_agent_wal_max_bytes", "WAL disk quota (--max-disk).", nil, nil)
	descWALFirst     = prometheus.NewDesc("edgelog_agent_wal_first_seq", "Lowest sequence still in the WAL.", nil, nil)
	descWALNext      = prometheus.NewDesc("edgelog_agent_wal_next_seq", "Sequence the next record gets.", nil, nil)
	descWALDurable   = prometheus.NewDesc("edgelog_agent_wal_durable_seq", "Highest fsynced sequence.", nil, nil)
	descWALUnfsynced = prometheus.NewDesc("edgelog_agent_wal_unfsynced_bytes", "Bytes written to the WAL but not yet fsynced.", nil, nil)
	descWALRepaired  = prometheus.NewDesc("edgelog_agent_wal_repaired_bytes", "Bytes cut from a torn WAL tail at start.", nil, nil)
	descFsync        = prometheus.NewDesc("edgelog_agent_wal_fsync_seconds", "WAL fsync latency.", nil, nil)
	descUnsyncedRecs = prometheus.NewDesc("edgelog_agent_unsynced_records", "WAL records the hub has not acknowledged.", nil, nil)
	descUnsyncedB    = prometheus.NewDesc("edgelog_agent_unsynced_bytes", "WAL bytes the hub has not acknowledged (prorated by records).", nil, nil)
	descDropped      = prometheus.NewDesc("edgelog_agent_dropped_records_total", "Unsynced records deleted by --when-full drop-oldest.", nil, nil)
	descHubAcked     = prometheus.NewDesc("edgelog_agent_hub_acked_seq", "Highest sequence the hub reported as stored.", nil, nil)
	descHubConnected = prometheus.NewDesc("edgelog_agent_hub_connected", "1 while the sync session to the hub is up.", nil, nil)
)

func (c *walCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWALSize, descWALMax, descWALFirst, descWALNext, descWALDurable,
		descWALUnfsynced, descWALRepaired, descFsync, descUnsyncedRecs, descUnsyncedB, descDropped, descHubAcked, descHubConnected} {
		ch <- d
	}
}

func (c *walCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	st := a.wal.Stats()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	gauge(descWALSize, float64(st.SizeBytes))
	gauge(descWALMax, float64(a.cfg.MaxDisk))
	gauge(descWALFirst, float64(st.First))
	gauge(descWALNext, float64(st.Next))
	gauge(descWALDurable, float64(st.Durable))
	gauge(descWALUnfsynced, float64(st.UnsyncedBytes))
	gauge(descWALRepaired, float64(st.RepairedBytes))
	buckets := make(map[float64]uint64, len(wal.FsyncBuckets))
	for i, ub := range wal.FsyncBuckets {
		buckets[ub] = st.FsyncBucketCounts[i]
	}
	ch <- prometheus.MustNewConstHistogram(descFsync, uint64(st.Fsyncs), st.FsyncSeconds, buckets)
	recs, bytes := a.quota.unsynced()
	gauge(descUnsyncedRecs, float64(recs))
	gauge(descUnsyncedB, float64(bytes))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(a.quota.dropped.Load()))
	sync := a.syncStatus()
	gauge(descHubAcked, float64(max(sync.AckedSeq, a.quota.hubAcked.Load())))
	gauge(descHubConnected, b2f(sync.Connected))
}

// counterValue reads a counter's current value.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// Registry is the agent's Prometheus registry, served on /metrics; an
// attached Syncer registers its metrics here.
func (a *Agent) Registry() *prometheus.Registry { return a.met.reg }

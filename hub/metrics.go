package hub

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the broker's counters plus a collector that reads partition
// and group state at scrape time.
type metrics struct {
	reg                     *prometheus.Registry
	produced, producedBytes prometheus.Counter
	merged, duplicates      prometheus.Counter
	retained                prometheus.Counter
	state                   *stateCollector
}

func newMetrics(b *Broker, reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		reg:           reg,
		produced:      prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_hub_produced_records_total", Help: "Records appended by Kafka Produce requests."}),
		producedBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_hub_produced_bytes_total", Help: "Record batch bytes appended by Kafka Produce requests."}),
		merged:        prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_hub_merged_records_total", Help: "Agent records merged into partitions."}),
		duplicates:    prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_hub_merge_duplicates_total", Help: "Agent records dropped as already merged."}),
		retained:      prometheus.NewCounter(prometheus.CounterOpts{Name: "edgelog_hub_retention_deleted_segments_total", Help: "Segments deleted by retention."}),
		state:         newStateCollector(b),
	}
	for _, c := range []prometheus.Collector{m.produced, m.producedBytes, m.merged, m.duplicates, m.retained, m.state} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) unregister() {
	for _, c := range []prometheus.Collector{m.produced, m.producedBytes, m.merged, m.duplicates, m.retained, m.state} {
		m.reg.Unregister(c)
	}
}

// stateCollector reports per-partition and per-group state when scraped.
type stateCollector struct {
	b                                *Broker
	records, bytes, start, end, segs *prometheus.Desc
	committed, lag                   *prometheus.Desc
	agentConnected, agentAcked       *prometheus.Desc
}

func newStateCollector(b *Broker) *stateCollector {
	tp := []string{"topic", "partition"}
	gtp := []string{"group", "topic", "partition"}
	return &stateCollector{
		b:              b,
		records:        prometheus.NewDesc("edgelog_hub_partition_records", "Records between the log start and end offsets.", tp, nil),
		bytes:          prometheus.NewDesc("edgelog_hub_partition_bytes", "Bytes on disk.", tp, nil),
		start:          prometheus.NewDesc("edgelog_hub_partition_log_start_offset", "Log start offset.", tp, nil),
		end:            prometheus.NewDesc("edgelog_hub_partition_log_end_offset", "Log end offset (high watermark).", tp, nil),
		segs:           prometheus.NewDesc("edgelog_hub_partition_segments", "Segment files.", tp, nil),
		committed:      prometheus.NewDesc("edgelog_hub_group_committed_offset", "Committed offset of a consumer group.", gtp, nil),
		lag:            prometheus.NewDesc("edgelog_hub_group_lag", "High watermark minus committed offset.", gtp, nil),
		agentConnected: prometheus.NewDesc("edgelog_hub_agent_connected", "1 while the agent has a sync session.", []string{"agent"}, nil),
		agentAcked:     prometheus.NewDesc("edgelog_hub_agent_acked_seq", "Durable merge watermark of the agent.", []string{"agent"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.records, c.bytes, c.start, c.end, c.segs, c.committed, c.lag, c.agentConnected, c.agentAcked} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, t := range c.b.Topics() {
		for i, p := range t.parts {
			start, hw, _ := p.Offsets()
			pi := strconv.Itoa(i)
			gauge(c.records, float64(hw-start), t.name, pi)
			gauge(c.bytes, float64(p.Size()), t.name, pi)
			gauge(c.start, float64(start), t.name, pi)
			gauge(c.end, float64(hw), t.name, pi)
			gauge(c.segs, float64(p.Segments()), t.name, pi)
		}
	}
	for _, g := range c.b.OffsetGroups() {
		for tp, off := range c.b.GroupOffsets(g) {
			p, err := c.b.Partition(tp.Topic, tp.Partition)
			if err != nil {
				continue
			}
			_, hw, _ := p.Offsets()
			pi := strconv.Itoa(int(tp.Partition))
			gauge(c.committed, float64(off.Offset), g, tp.Topic, pi)
			lag := hw - off.Offset
			if lag < 0 {
				lag = 0
			}
			gauge(c.lag, float64(lag), g, tp.Topic, pi)
		}
	}
	for _, a := range c.b.Agents() {
		v := 0.0
		if a.Connected {
			v = 1
		}
		gauge(c.agentConnected, v, a.ID)
		gauge(c.agentAcked, float64(a.AckedSeq), a.ID)
	}
}

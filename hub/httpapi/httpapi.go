package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/hub/store"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options are what the handler reports beyond the broker.
type Options struct {
	// Ready returns nil once the hub serves; nil means always ready.
	Ready func() error
	// Listeners names the addresses the hub serves, e.g. kafka, http, sync.
	Listeners map[string]string
	// Groups lists consumer groups by state (from the Kafka listener's
	// coordinator); nil reports none.
	Groups  func() map[string]int
	Version string
}

// Handler serves the API for b.
func Handler(b *hub.Broker, opts Options) http.Handler {
	started := time.Now()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if opts.Ready != nil {
			if err := opts.Ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte("not ready: " + err.Error() + "\n"))
				return
			}
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(b.Registry(), promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, status(b, opts, started))
	})
	mux.HandleFunc("GET /v1/topics", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, topics(b))
	})
	mux.HandleFunc("GET /v1/agents", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, b.Agents())
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// Status is the /v1/status document.
type Status struct {
	State         string            `json:"state"` // ready or starting
	Version       string            `json:"version,omitempty"`
	Started       time.Time         `json:"started"`
	UptimeSeconds float64           `json:"uptime_seconds"`
	Listeners     map[string]string `json:"listeners"`
	Storage       StorageStatus     `json:"storage"`
	Topics        int               `json:"topics"`
	Partitions    int               `json:"partitions"`
	Records       int64             `json:"records"`
	Bytes         int64             `json:"bytes"`
	Agents        AgentCounts       `json:"agents"`
	Groups        map[string]int    `json:"groups"` // by state
}

// StorageStatus is the hub's storage configuration.
type StorageStatus struct {
	Dir                string `json:"dir"`
	Fsync              string `json:"fsync"`
	DefaultPartitions  int    `json:"default_partitions"`
	RetentionMs        int64  `json:"retention_ms"`    // -1: forever
	RetentionBytes     int64  `json:"retention_bytes"` // -1: no limit
	SegmentBytes       int64  `json:"segment_bytes"`
	AutoCreateTopics   bool   `json:"auto_create_topics"`
	RetentionCheckSecs int64  `json:"retention_check_seconds"`
}

// AgentCounts summarizes /v1/agents.
type AgentCounts struct {
	Known     int `json:"known"`
	Connected int `json:"connected"`
}

// FsyncName names a sync policy as the --fsync flag does.
func FsyncName(p store.SyncPolicy) string {
	switch p {
	case store.SyncInterval:
		return "interval"
	case store.SyncNever:
		return "never"
	default:
		return "always"
	}
}

func status(b *hub.Broker, opts Options, started time.Time) Status {
	cfg := b.Config()
	st := Status{
		State: "ready", Version: opts.Version, Started: started.UTC(),
		UptimeSeconds: time.Since(started).Seconds(), Listeners: opts.Listeners,
		Storage: StorageStatus{
			Dir: cfg.Dir, Fsync: FsyncName(cfg.Fsync), DefaultPartitions: cfg.Partitions,
			RetentionMs: cfg.RetentionAge.Milliseconds(), RetentionBytes: cfg.RetentionBytes,
			SegmentBytes: cfg.SegmentBytes, AutoCreateTopics: !cfg.DisableAutoCreate,
			RetentionCheckSecs: int64(cfg.RetentionCheck.Seconds()),
		},
		Groups: map[string]int{},
	}
	if cfg.RetentionAge < 0 {
		st.Storage.RetentionMs = -1
	}
	if opts.Ready != nil && opts.Ready() != nil {
		st.State = "starting"
	}
	if st.Listeners == nil {
		st.Listeners = map[string]string{}
	}
	for _, t := range topics(b) {
		st.Topics++
		st.Partitions += len(t.Partitions)
		st.Records += t.Records
		st.Bytes += t.Bytes
	}
	for _, a := range b.Agents() {
		st.Agents.Known++
		if a.Connected {
			st.Agents.Connected++
		}
	}
	if opts.Groups != nil {
		st.Groups = opts.Groups()
	}
	return st
}

// Topic is one entry of /v1/topics.
type Topic struct {
	Name           string      `json:"name"`
	RetentionMs    int64       `json:"retention_ms"`
	RetentionBytes int64       `json:"retention_bytes"`
	SegmentBytes   int64       `json:"segment_bytes"`
	Records        int64       `json:"records"`
	Bytes          int64       `json:"bytes"`
	Partitions     []Partition `json:"partitions"`
}

// Partition is one partition of a Topic.
type Partition struct {
	Partition      int32 `json:"partition"`
	LogStartOffset int64 `json:"log_start_offset"`
	HighWatermark  int64 `json:"high_watermark"`
	Records        int64 `json:"records"`
	Bytes          int64 `json:"bytes"`
	Segments       int   `json:"segments"`
}

func topics(b *hub.Broker) []Topic {
	out := []Topic{}
	for _, t := range b.Topics() {
		tc := t.Config()
		jt := Topic{Name: t.Name(), RetentionMs: tc.RetentionAge.Milliseconds(), RetentionBytes: tc.RetentionBytes, SegmentBytes: tc.SegmentBytes, Partitions: []Partition{}}
		if tc.RetentionAge < 0 {
			jt.RetentionMs = -1
		}
		for i := 0; i < t.Partitions(); i++ {
			p := t.Partition(int32(i))
			start, hw, _ := p.Offsets()
			jp := Partition{Partition: int32(i), LogStartOffset: start, HighWatermark: hw, Records: hw - start, Bytes: p.Size(), Segments: p.Segments()}
			jt.Records += jp.Records
			jt.Bytes += jp.Bytes
			jt.Partitions = append(jt.Partitions, jp)
		}
		out = append(out, jt)
	}
	return out
}

package agent

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Status is the agent's /v1/status document.
type Status struct {
	State     string         `json:"state"` // starting, ready, failed, stopping
	Started   time.Time      `json:"started"`
	MQTT      MQTTStatus     `json:"mqtt"`
	WAL       WALStatus      `json:"wal"`
	Hub       HubStatus      `json:"hub"`
	Publishes map[string]int `json:"publishes"`
}

// MQTTStatus describes the broker side.
type MQTTStatus struct {
	Listeners        map[string]string `json:"listeners"` // id → address
	ClientsConnected int64             `json:"clients_connected"`
	Authentication   string            `json:"authentication"` // devices or loopback-anonymous
}

// WALStatus describes the log and its quota.
type WALStatus struct {
	Dir             string `json:"dir"`
	Epoch           string `json:"epoch"`
	Fsync           string `json:"fsync"`
	FirstSeq        uint64 `json:"first_seq"`
	NextSeq         uint64 `json:"next_seq"`
	DurableSeq      uint64 `json:"durable_seq"`
	SizeBytes       int64  `json:"size_bytes"`
	Segments        int    `json:"segments"`
	MaxDiskBytes    int64  `json:"max_disk_bytes"`
	WhenFull        string `json:"when_full"`
	Full            bool   `json:"full"`
	UnsyncedRecords uint64 `json:"unsynced_records"`
	UnsyncedBytes   int64  `json:"unsynced_bytes"`
	DroppedRecords  int64  `json:"dropped_records"`
	RepairedBytes   int64  `json:"repaired_bytes"`
}

// HubStatus is the sync side: configured hub, session and lag.
type HubStatus struct {
	SyncStatus
	Attached   bool   `json:"attached"` // a sync session is running
	LagRecords uint64 `json:"lag_records"`
}

// Status returns a snapshot for /v1/status.
func (a *Agent) Status() Status {
	st := a.wal.Stats()
	recs, bytes := a.quota.unsynced()
	sync := a.syncStatus()
	sync.AckedSeq = max(sync.AckedSeq, a.quota.hubAcked.Load())
	s := Status{
		State:   a.state(),
		Started: a.start.UTC(),
		MQTT: MQTTStatus{
			Listeners:        map[string]string{},
			ClientsConnected: atomic.LoadInt64(&a.server.Info.ClientsConnected),
			Authentication:   a.authMode(),
		},
		WAL: WALStatus{
			Dir: a.wal.Dir(), Epoch: a.wal.Epoch(), Fsync: a.cfg.Fsync.String(),
			FirstSeq: st.First, NextSeq: st.Next, DurableSeq: st.Durable,
			SizeBytes: st.SizeBytes, Segments: st.Segments,
			MaxDiskBytes: a.cfg.MaxDisk, WhenFull: a.cfg.WhenFull.String(), Full: a.quota.full(),
			UnsyncedRecords: recs, UnsyncedBytes: bytes,
			DroppedRecords: a.quota.dropped.Load(), RepairedBytes: st.RepairedBytes,
		},
		Hub:       HubStatus{SyncStatus: sync, Attached: a.attachedSyncer() != nil, LagRecords: recs},
		Publishes: map[string]int{},
	}
	for _, id := range []string{"mqtt", "mqtt-tls", "mqtt-ws"} {
		if addr := a.listenerAddr(id); addr != "" {
			s.MQTT.Listeners[id] = addr
		}
	}
	for q, c := range a.met.publishes {
		s.Publishes["qos"+string(rune('0'+q))] = int(counterValue(c))
	}
	return s
}

func (a *Agent) state() string {
	switch {
	case a.closing.Load():
		return "stopping"
	case a.failed.Load():
		return "failed"
	case a.ready.Load():
		return "ready"
	}
	return "starting"
}

// httpHandler serves /healthz, /readyz, /metrics and /v1/status.
func (a *Agent) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.Ready() {
			http.Error(w, a.state(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.met.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(a.Status())
	})
	return mux
}

package hub

import (
	"encoding/binary"
	"sort"
	"strings"
	"time"

	"github.com/edgelog/edgelog/hub/store"
)

// AgentStatus is what the hub knows of one agent (GET /v1/agents).
type AgentStatus struct {
	ID          string    `json:"id"`
	Epoch       string    `json:"epoch"` // the WAL epoch last seen
	Connected   bool      `json:"connected"`
	RemoteAddr  string    `json:"remote_addr,omitempty"`
	LastContact time.Time `json:"last_contact"`
	AckedSeq    uint64    `json:"acked_seq"` // durable merge watermark of Epoch
	// Lag as the agent reported it: records and bytes not yet acknowledged
	// by the hub, and the age of the oldest.
	LagRecords uint64  `json:"lag_records"`
	LagBytes   uint64  `json:"lag_bytes"`
	LagSeconds float64 `json:"lag_seconds"`
	// Records merged and duplicates dropped since the hub started.
	Merged     uint64 `json:"merged"`
	Duplicates uint64 `json:"duplicates"`
}

// AgentLag is an agent's own report of what it has not synced yet.
type AgentLag struct {
	Records uint64
	Bytes   uint64
	Oldest  time.Duration // age of the oldest unsynced record
}

const kvAgentPrefix = "agent/"

// agentKVKey is the KV key of an agent epoch's watermark.
func agentKVKey(agentID, epoch string) string { return kvAgentPrefix + epoch + "/" + agentID }

// agentFor returns (creating) the ingest state of an agent epoch.
func (b *Broker) agentFor(agentID, epoch string) *agentState {
	key := agentProducer(agentID, epoch)
	b.agentsMu.Lock()
	defer b.agentsMu.Unlock()
	st, ok := b.agents[key]
	if !ok {
		st = &agentState{id: agentID, epoch: epoch, key: key}
		b.agents[key] = st
		if s, known := b.status[agentID]; known && s.Epoch != epoch {
			b.log.Info("hub: agent has a new WAL epoch", "agent", agentID, "old_epoch", s.Epoch, "epoch", epoch)
		}
	}
	return st
}

// loadAgents restores watermarks and last contacts from the KV.
func (b *Broker) loadAgents() {
	b.kv.Range(kvAgentPrefix, func(key string, val []byte) bool {
		epoch, id, ok := strings.Cut(key[len(kvAgentPrefix):], "/")
		if !ok || len(val) != 16 {
			b.log.Warn("hub: ignoring a malformed agent record", "key", key)
			return true
		}
		through := binary.BigEndian.Uint64(val)
		last := time.UnixMilli(int64(binary.BigEndian.Uint64(val[8:])))
		st := &agentState{id: id, epoch: epoch, key: agentProducer(id, epoch), appended: through}
		st.watermark.Store(through)
		b.agents[st.key] = st
		if s, ok := b.status[id]; !ok || last.After(s.LastContact) {
			b.status[id] = &AgentStatus{ID: id, Epoch: epoch, LastContact: last, AckedSeq: through}
		}
		return true
	})
}

// persistWatermark durably records that st is merged through seq.
func (b *Broker) persistWatermark(st *agentState, through uint64) error {
	val := binary.BigEndian.AppendUint64(nil, through)
	val = binary.BigEndian.AppendUint64(val, uint64(time.Now().UnixMilli()))
	if err := b.kv.Put(b.ctx, store.KVEntry{Key: agentKVKey(st.id, st.epoch), Value: val}); err != nil {
		return err
	}
	return nil
}

// statusFor returns the status entry of an agent; agentsMu held.
func (b *Broker) statusFor(agentID string) *AgentStatus {
	s, ok := b.status[agentID]
	if !ok {
		s = &AgentStatus{ID: agentID}
		b.status[agentID] = s
	}
	return s
}

// statusForEpoch is statusFor, switched to epoch (counters restart when an
// agent shows up with a new WAL epoch); agentsMu held.
func (b *Broker) statusForEpoch(agentID, epoch string) *AgentStatus {
	s := b.statusFor(agentID)
	if s.Epoch != epoch {
		s.Epoch, s.Merged, s.Duplicates, s.AckedSeq = epoch, 0, 0, 0
	}
	return s
}

func (b *Broker) noteAcked(st *agentState, through uint64) {
	b.agentsMu.Lock()
	defer b.agentsMu.Unlock()
	s := b.statusForEpoch(st.id, st.epoch)
	s.AckedSeq = through
	s.LastContact = time.Now()
}

// AgentConnected records that an agent's session started (called by the
// sync layer after the handshake).
func (b *Broker) AgentConnected(agentID, epoch, remoteAddr string) {
	st := b.agentFor(agentID, epoch)
	b.agentsMu.Lock()
	defer b.agentsMu.Unlock()
	s := b.statusForEpoch(agentID, epoch)
	s.AckedSeq = st.watermark.Load()
	s.Connected, s.RemoteAddr, s.LastContact = true, remoteAddr, time.Now()
}

// AgentDisconnected records that an agent's session ended.
func (b *Broker) AgentDisconnected(agentID string) {
	b.agentsMu.Lock()
	defer b.agentsMu.Unlock()
	if s, ok := b.status[agentID]; ok {
		s.Connected = false
		s.LastContact = time.Now()
	}
}

// AgentReport records an agent's lag report (e.g. from a heartbeat); it
// counts as contact.
func (b *Broker) AgentReport(agentID string, lag AgentLag) {
	b.agentsMu.Lock()
	defer b.agentsMu.Unlock()
	s := b.statusFor(agentID)
	s.LagRecords, s.LagBytes, s.LagSeconds = lag.Records, lag.Bytes, lag.Oldest.Seconds()
	s.LastContact = time.Now()
}

// Agents lists every agent the hub knows, sorted by ID.
func (b *Broker) Agents() []AgentStatus {
	b.agentsMu.Lock()
	out := make([]AgentStatus, 0, len(b.status))
	for _, s := range b.status {
		out = append(out, *s)
	}
	b.agentsMu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// noteMerged counts a merge's records in the agent's status.
func (b *Broker) noteMerged(st *agentState, appended, dropped int) {
	b.agentsMu.Lock()
	defer b.agentsMu.Unlock()
	s := b.statusForEpoch(st.id, st.epoch)
	s.Merged += uint64(appended)
	s.Duplicates += uint64(dropped)
	s.LastContact = time.Now()
}

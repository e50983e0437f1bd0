package agent

import (
	"context"
	"time"
)

// Syncer replicates the agent's WAL to the hub (agent/shipper). It reads
// from Agent.WAL, reports what the hub holds with Agent.SetHubAcked, and
// exposes its state for /v1/status and /metrics.
type Syncer interface {
	// Run ships records until ctx is cancelled. The agent cancels ctx
	// during shutdown after the WAL has been fsynced.
	Run(ctx context.Context) error
	// SyncStatus is a snapshot of the session; it must not block.
	SyncStatus() SyncStatus
}

// SyncStatus is the hub side of /v1/status.
type SyncStatus struct {
	Hub         string    `json:"address"`
	Connected   bool      `json:"connected"`
	AckedSeq    uint64    `json:"acked_seq"`
	LastContact time.Time `json:"last_contact,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

// AttachSync attaches s; call it before Run.
func (a *Agent) AttachSync(s Syncer) {
	a.syncMu.Lock()
	a.syncer = s
	a.syncMu.Unlock()
}

func (a *Agent) attachedSyncer() Syncer {
	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	return a.syncer
}

// syncStatus is the attached Syncer's status, or the configured hub with
// nothing connected.
func (a *Agent) syncStatus() SyncStatus {
	if s := a.attachedSyncer(); s != nil {
		return s.SyncStatus()
	}
	return SyncStatus{Hub: a.cfg.Hub}
}

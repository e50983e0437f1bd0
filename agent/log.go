package agent

import (
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// rejectLogEvery bounds how often refusals of one reason are logged; the
// metric counts every one.
const rejectLogEvery = 5 * time.Second

// rejectLog rate-limits refusal logs per reason.
type rejectLog struct {
	mu   sync.Mutex
	last map[string]time.Time // mu
	held map[string]int       // mu: refusals not logged since last
}

// reject counts a refused publish or connection and logs it, at most once
// per rejectLogEvery per reason (with the count of those not logged).
func (a *Agent) reject(reason string, cl *mqtt.Client, err error, kv ...any) {
	a.met.rejected.WithLabelValues(reason).Inc()
	r := &a.rejects
	now := time.Now()
	r.mu.Lock()
	if r.last == nil {
		r.last, r.held = map[string]time.Time{}, map[string]int{}
	}
	if now.Sub(r.last[reason]) < rejectLogEvery {
		r.held[reason]++
		r.mu.Unlock()
		return
	}
	held := r.held[reason]
	r.last[reason], r.held[reason] = now, 0
	r.mu.Unlock()
	args := append([]any{"reason", reason, "client", cl.ID, "remote", cl.Net.Remote, "err", err}, kv...)
	if held > 0 {
		args = append(args, "not_logged_since_last", held)
	}
	a.log.Warn("agent: publish refused", args...)
}

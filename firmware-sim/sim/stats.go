package sim

import (
	"math"
	"sync/atomic"
	"time"
)

// Stats are the fleet's counters at one moment. Every generated message
// ends up in exactly one of Acked, DeliveredQoS0, Dropped, LostQoS0 or (at
// the end of a run) Unsent; Failed counts delivery attempts, not messages.
type Stats struct {
	Elapsed   time.Duration `json:"-"`
	Generated uint64        `json:"generated"` // readings sampled
	Sent      uint64        `json:"sent"`      // PUBLISH packets handed to the connection, retries included
	// Acked: QoS 1/2 messages whose PUBACK (QoS 1) or PUBCOMP (QoS 2)
	// arrived. Exact: a message counts once, when paho completes its token
	// without error.
	Acked         uint64 `json:"acked"`
	DeliveredQoS0 uint64 `json:"delivered_qos0"` // QoS 0 messages written to the connection
	LostQoS0      uint64 `json:"lost_qos0"`      // QoS 0 messages whose write failed (never retried)
	// Failed: QoS 1/2 attempts that ended without an ack (connection lost,
	// refused); each such message goes back to the queue to be retried.
	Failed  uint64 `json:"failed"`
	Dropped uint64 `json:"dropped"` // lost to the on-device queue's drop policy
	Unsent  uint64 `json:"unsent"`  // still queued or in flight when the run ended

	Queued    int64 `json:"queued"`    // now in on-device queues
	Inflight  int64 `json:"inflight"`  // now awaiting an ack
	Connected int64 `json:"connected"` // devices connected now

	Connects        uint64 `json:"connects"`         // successful connects
	Reconnects      uint64 `json:"reconnects"`       // connects after the first, per device
	ConnectFailures uint64 `json:"connect_failures"` // refused or timed-out connects
	ChaosKills      uint64 `json:"chaos_kills"`      // connections killed by chaos mode
	Sleeps          uint64 `json:"sleeps"`           // duty-cycle sleeps begun

	Bad map[string]BadStats `json:"bad_actors,omitempty"` // by misbehaviour
}

// BadStats counts one misbehaviour's attempts and how the broker answered.
type BadStats struct {
	Attempts uint64 `json:"attempts"`
	Refused  uint64 `json:"refused"`  // refused, disconnected or never acknowledged
	Accepted uint64 `json:"accepted"` // acknowledged: the broker let it through
	Errors   uint64 `json:"errors"`   // could not even try (e.g. the setup connect failed)
}

// counters are the live, atomically updated Stats.
type counters struct {
	generated, sent, acked, delivered0, lost0, failed, dropped, unsent atomic.Uint64
	queued, inflight, connected                                        atomic.Int64
	connects, reconnects, connectFailures, chaosKills, sleeps          atomic.Uint64
	bad                                                                map[string]*badCounters // fixed at start
	latency                                                            histogram
}

type badCounters struct{ attempts, refused, accepted, errors atomic.Uint64 }

func newCounters(kinds []string) *counters {
	c := &counters{bad: map[string]*badCounters{}}
	for _, k := range kinds {
		c.bad[k] = &badCounters{}
	}
	return c
}

func (c *counters) snapshot(elapsed time.Duration) Stats {
	s := Stats{
		Elapsed: elapsed, Generated: c.generated.Load(), Sent: c.sent.Load(), Acked: c.acked.Load(),
		DeliveredQoS0: c.delivered0.Load(), LostQoS0: c.lost0.Load(), Failed: c.failed.Load(),
		Dropped: c.dropped.Load(), Unsent: c.unsent.Load(),
		Queued: c.queued.Load(), Inflight: c.inflight.Load(), Connected: c.connected.Load(),
		Connects: c.connects.Load(), Reconnects: c.reconnects.Load(), ConnectFailures: c.connectFailures.Load(),
		ChaosKills: c.chaosKills.Load(), Sleeps: c.sleeps.Load(),
	}
	if len(c.bad) > 0 {
		s.Bad = map[string]BadStats{}
		for k, b := range c.bad {
			s.Bad[k] = BadStats{Attempts: b.attempts.Load(), Refused: b.refused.Load(), Accepted: b.accepted.Load(), Errors: b.errors.Load()}
		}
	}
	return s
}

// histogram records ack latencies in logarithmic buckets: four per
// doubling, from 1µs to about 70 minutes.
type histogram struct{ buckets [128]atomic.Uint64 }

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us < 1 {
		return 0
	}
	return min(int(4*math.Log2(us))+1, 127)
}

func bucketUpper(i int) time.Duration {
	return time.Duration(math.Exp2(float64(i)/4) * float64(time.Microsecond))
}

func (h *histogram) record(d time.Duration) { h.buckets[bucketOf(d)].Add(1) }

// quantile returns the upper bound of the bucket holding quantile q.
func (h *histogram) quantile(q float64) time.Duration {
	var total uint64
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i := range h.buckets {
		if seen += h.buckets[i].Load(); seen >= rank {
			return bucketUpper(i)
		}
	}
	return bucketUpper(len(h.buckets) - 1)
}

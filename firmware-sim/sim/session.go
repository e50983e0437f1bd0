package sim

import (
	"context"
	"math/rand/v2"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// session publishes while connected, keeping up to Config.Inflight
// messages unacknowledged, until the connection is lost, the duty cycle
// says sleep (at awakeUntil, if set), sampling is over and everything is
// delivered, or ctx ends. Whatever is not acknowledged goes back to the
// queue.
func (d *device) session(ctx context.Context, awakeUntil time.Time) {
	defer d.c.connected.Add(-1)
	var pending []inflight
	var chaos, sleep *time.Timer
	if d.beh.chaos && d.sampler != nil {
		chaos = time.NewTimer(expDuration(d.rng, d.cfg.ChaosInterval))
		defer chaos.Stop()
	}
	if !awakeUntil.IsZero() && d.sampler != nil {
		sleep = time.NewTimer(time.Until(awakeUntil))
		defer sleep.Stop()
	}
	for {
		for len(pending) < d.cfg.Inflight && d.q.len() > 0 {
			pending = append(pending, d.publish(d.q.pop()))
		}
		if d.sampler == nil && d.q.len() == 0 && len(pending) == 0 {
			d.client.Disconnect(250)
			return
		}
		var head <-chan struct{}
		if len(pending) > 0 {
			head = pending[0].tok.Done()
		}
		select {
		case <-ctx.Done():
			d.client.Disconnect(0)
			d.settle(pending, nil)
			return
		case <-d.lost:
			if d.client.IsConnectionOpen() {
				continue // a late report about the previous connection
			}
			d.settle(pending, nil)
			return
		case <-head:
			var failed []message
			if pending, failed = d.sweep(pending); len(failed) > 0 {
				// A publish failed on a connection paho still calls up
				// (write error or timeout): treat the link as dead.
				d.client.Disconnect(0)
				d.settle(pending, failed)
				return
			}
		case <-timerC(d.sampler):
			d.sample()
		case <-timerC(d.end):
			d.stopSampling()
			chaos, sleep = nil, nil // drain calmly
		case <-timerC(chaos):
			d.kill() // paho notices and reports the loss on d.lost
			chaos = nil
		case <-timerC(sleep):
			var failed []message
			pending, failed = d.quiesce(ctx, pending)
			d.client.Disconnect(250)
			d.settle(pending, failed)
			return
		}
	}
}

// expDuration draws from an exponential distribution with the given mean
// (kills at random, as a Poisson process).
func expDuration(rng *rand.Rand, mean time.Duration) time.Duration {
	return time.Duration(rng.ExpFloat64() * float64(mean))
}

func (d *device) publish(m message) inflight {
	d.c.queued.Add(-1)
	d.c.inflight.Add(1)
	d.c.sent.Add(1)
	return inflight{m: m, tok: d.client.Publish(m.topic, m.qos, false, m.payload), sent: time.Now()}
}

// sweep accounts for the completed messages at the head of pending and
// returns the rest, and the ones that failed (to be requeued by settle,
// ahead of the rest).
func (d *device) sweep(pending []inflight) (rest []inflight, failed []message) {
	i := 0
	for ; i < len(pending) && isDone(pending[i].tok); i++ {
		if !d.account(pending[i], true) {
			failed = append(failed, pending[i].m)
		}
	}
	return append(pending[:0], pending[i:]...), failed
}

// quiesce waits up to RefuseTimeout for in-flight messages to be
// acknowledged before a planned disconnect, still sampling meanwhile.
func (d *device) quiesce(ctx context.Context, pending []inflight) ([]inflight, []message) {
	t := time.NewTimer(d.cfg.RefuseTimeout)
	defer t.Stop()
	for len(pending) > 0 {
		select {
		case <-pending[0].tok.Done():
			var failed []message
			if pending, failed = d.sweep(pending); len(failed) > 0 {
				return pending, failed
			}
		case <-timerC(d.sampler):
			d.sample()
		case <-d.lost:
			return pending, nil
		case <-t.C:
			return pending, nil
		case <-ctx.Done():
			return pending, nil
		}
	}
	return pending, nil
}

// settle accounts for every pending message once the connection is gone.
// paho completes all tokens of a lost connection, so the wait is short; a
// token still open after RefuseTimeout counts as failed and is abandoned
// (never counted as acknowledged later). Failures go back to the queue
// head in their original order, after earlier (failures already counted,
// older than everything pending).
func (d *device) settle(pending []inflight, earlier []message) {
	deadline := time.NewTimer(d.cfg.RefuseTimeout)
	defer deadline.Stop()
	retry := earlier
	expired := false
	for _, p := range pending {
		done := isDone(p.tok)
		if !done && !expired {
			select {
			case <-p.tok.Done():
				done = true
			case <-deadline.C:
				expired = true // the rest get no more time either
			}
		}
		if !d.account(p, done) {
			retry = append(retry, p.m)
		}
	}
	d.requeue(retry)
}

// account counts a finished attempt. It reports false when the message
// must be retried (QoS 1/2 without an ack).
func (d *device) account(p inflight, done bool) bool {
	d.c.inflight.Add(-1)
	ok := done && p.tok.Error() == nil
	switch {
	case p.m.qos == 0 && ok:
		d.c.delivered0.Add(1)
	case p.m.qos == 0:
		d.c.lost0.Add(1)
	case ok:
		d.c.acked.Add(1)
		d.c.latency.record(time.Since(p.sent))
		if d.cfg.OnAck != nil {
			d.cfg.OnAck(Ack{ClientID: d.id, Topic: p.m.topic, Seq: p.m.seq, QoS: p.m.qos})
		}
	default:
		d.c.failed.Add(1)
		return false
	}
	return true
}

// requeue puts failed messages back at the queue head, oldest first.
func (d *device) requeue(ms []message) {
	for i := len(ms) - 1; i >= 0; i-- {
		if d.q.pushFront(ms[i]) {
			d.c.dropped.Add(1) // the queue's length is unchanged
		} else {
			d.c.queued.Add(1)
		}
	}
}

func isDone(t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

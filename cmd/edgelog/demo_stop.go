package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgelog/edgelog/firmware-sim/sim"
	"github.com/edgelog/edgelog/internal/cli"
	"github.com/edgelog/edgelog/internal/demo"
)

// shutdown stops the demo in order — the fleet (no more publishes), the
// uplink back up, the agent's backlog drained to the hub, the agent (stop
// intake, fsync, drain sync, close), the consumer read to the hub's end,
// then the hub — and prints the summary. It returns the exit code: 0 only
// if every acknowledged message was read back at the hub exactly once.
func (v *demoView) shutdown(stops *stopRequests, kb *keyboard) int {
	s := v.s
	ferr := s.waitFleet()
	fs := s.fleet.Stats()
	v.event("fleet stopped: %s messages acknowledged by the agent", demo.Count(fs.Acked))
	if v.cutNow() != nil {
		v.restore(time.Now(), false)
	}
	v.event("draining the agent's backlog to the hub")
	drained := v.waitUntil(stops, kb, demoDrainWait, func() bool {
		st := s.agent.Status()
		return st.WAL.NextSeq-1 <= st.Hub.AckedSeq
	})
	v.lastStatus = s.agent.Status()
	unsynced := v.lastStatus.Hub.LagRecords
	s.stopAgent()
	aerr := <-s.agentDone
	s.stopAgent = nil
	if aerr != nil {
		v.event("agent: %v", aerr)
	} else {
		v.event("agent stopped: intake closed, WAL fsynced, sync drained")
	}
	caught := v.waitUntil(stops, kb, demoCatchUpWait, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		ts, err := s.hubTopics(ctx)
		return err == nil && s.caughtUp(ts)
	})
	v.verify(time.Now())
	counts := s.ledger.Counts()
	v.render(time.Now())
	s.close()
	kb.restore()
	if v.tty != nil {
		v.tty.done()
	}

	ok := drained && caught && counts.Missing == 0 && counts.Duplicates == 0 && aerr == nil
	w := v.out
	fmt.Fprintf(w, "\nedgelog demo: summary after %s\n", demo.Clock(time.Since(v.start)))
	row := func(label string, n uint64, note string) {
		fmt.Fprintf(w, "  %-12s %12s  %s\n", label, demo.Count(n), note)
	}
	row("acked", counts.Acked, "acknowledged to the devices by the agent (QoS 1)")
	row("at hub", counts.AtHub, "distinct messages read back from the hub over Kafka")
	if counts.Unacked > 0 {
		row("", counts.Unacked, "of these unacknowledged: in flight at the stop")
	}
	row("lost", counts.Missing, "acknowledged but not at the hub")
	row("duplicated", counts.Duplicates, "read more than once at the hub")
	if len(v.outages) > 0 {
		var peak uint64
		verified := 0
		for _, o := range v.outages {
			peak = max(peak, o.peakLag)
			if o.verified {
				verified++
			}
		}
		cuts := "uplink cuts"
		if len(v.outages) == 1 {
			cuts = "uplink cut"
		}
		row("outages", uint64(len(v.outages)), fmt.Sprintf("%s; backlog peak %s records; %d drained", cuts, demo.Count(peak), verified))
	}
	switch {
	case errors.Is(ferr, sim.ErrNoConnection):
		fmt.Fprintf(w, "  not verified: no device could connect to the agent (%v)\n", ferr)
		ok = false
	case !drained:
		fmt.Fprintf(w, "  not verified: %s records were still in the agent's WAL when the demo stopped waiting for the uplink\n", demo.Count(unsynced))
	case !caught:
		fmt.Fprintf(w, "  not verified: the consumer did not reach the hub's end offsets within %v\n", demoCatchUpWait)
	case !ok:
		fmt.Fprintf(w, "  FAILED: %s acknowledged messages missing, %s duplicated (see %s)\n", demo.Count(counts.Missing), demo.Count(counts.Duplicates), s.root)
	default:
		fmt.Fprintf(w, "  no loss: every acknowledged message reached the hub exactly once\n")
	}
	if !ok && !s.o.keep {
		s.o.keep = true // keep the evidence
	}
	if s.o.keep {
		fmt.Fprintf(w, "kept %s (hub/, agent/, demo.log)\n", s.root)
	} else if err := s.removeData(); err != nil {
		fmt.Fprintf(w, "could not remove %s: %v\n", s.root, err)
	} else {
		fmt.Fprintf(w, "removed %s\n", s.root)
	}
	if !ok {
		return cli.ExitFailure
	}
	return cli.ExitOK
}

// waitUntil polls cond until it holds, the wait times out or a second stop
// request says not to wait; it keeps the view alive meanwhile.
func (v *demoView) waitUntil(stops *stopRequests, kb *keyboard, limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(demoTick)
	defer tick.Stop()
	lastRender := time.Now()
	for !cond() {
		select {
		case <-stops.hurry:
			v.event("not waiting any longer")
			return false
		case k := <-kb.Keys():
			if k == 'q' || k == 'Q' || k == 3 || k == 4 {
				stops.request()
			}
		case now := <-tick.C:
			if now.After(deadline) {
				v.event("gave up waiting after %v", limit)
				return false
			}
			v.verify(now)
			if now.Sub(lastRender) >= demoRender {
				lastRender = now
				v.render(now)
			}
		}
	}
	return true
}

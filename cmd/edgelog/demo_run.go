package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgelog/edgelog/agent"
	"github.com/edgelog/edgelog/hub/httpapi"
	"github.com/edgelog/edgelog/internal/cli"
	"github.com/edgelog/edgelog/internal/demo"
)

// Timing of the live view and of the shutdown waits.
const (
	demoTick        = 200 * time.Millisecond // outage schedule and drain checks
	demoRender      = time.Second            // view refresh
	demoDrainWait   = 60 * time.Second       // for the agent's backlog to reach the hub at stop
	demoCatchUpWait = 30 * time.Second       // for the consumer to read the hub to its end
)

// stopRequests turns signals and stop keys into two levels: the first asks
// for a clean stop, the second to skip the waits for the backlog.
type stopRequests struct {
	mu          sync.Mutex
	n           int // protected by mu
	stop, hurry chan struct{}
}

func newStopRequests() *stopRequests {
	return &stopRequests{stop: make(chan struct{}), hurry: make(chan struct{})}
}

func (r *stopRequests) request() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	switch r.n {
	case 1:
		close(r.stop)
	case 2:
		close(r.hurry)
	}
}

// demoOutage is one uplink cut and what it showed.
type demoOutage struct {
	n               int
	cut, restored   time.Time
	peakLag         uint64
	mark            demo.Mark // acknowledged when the link came back
	verified        bool
	drained         time.Duration
	autoRestoreTime time.Time // zero: restored by a key
}

// demoView is the live loop's state; only the goroutine running run
// touches it.
type demoView struct {
	s      *demoStack
	out    io.Writer
	tty    *screen // nil: plain progress lines
	keys   bool
	start  time.Time
	events []string

	outages []*demoOutage
	nextCut time.Time // zero: no automatic cut

	lagHist    []uint64
	lastIn     int
	lastInAt   time.Time
	inRate     float64
	lastStatus agent.Status // the agent's status at the last sample
	topics     []httpapi.Topic
}

func (o demoOptions) run(ctx context.Context, env *cli.Env) int {
	stops := newStopRequests()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		for {
			select {
			case <-sigs:
				stops.request()
			case <-ctx.Done():
				stops.request()
				return
			case <-finished:
				return
			}
		}
	}()
	startCtx, cancelStart := context.WithCancel(ctx)
	go func() {
		select {
		case <-stops.stop:
		case <-finished:
		}
		cancelStart()
	}()

	s, err := startDemo(startCtx, o)
	cancelStart()
	if err != nil {
		fmt.Fprintf(env.Stderr, "edgelog demo: %v\n", err)
		return cli.ExitFailure
	}
	v := &demoView{s: s, out: env.Stdout, start: time.Now(), lastInAt: time.Now()}
	kb := openKeyboard(env.Stdin)
	defer kb.restore()
	v.keys = kb != nil
	if isTerminal(env.Stdout) {
		v.tty = &screen{w: env.Stdout}
	} else {
		v.header()
	}
	if o.outageEvery > 0 {
		v.nextCut = v.start.Add(o.outageEvery)
	}
	v.live(stops, kb)
	code := v.shutdown(stops, kb)
	return code
}

// header introduces a plain-output run: where everything listens.
func (v *demoView) header() {
	s, o := v.s, v.s.o
	w := v.out
	fmt.Fprintf(w, "edgelog demo: a hub, an agent and %d simulated devices (%s msg/s each, QoS 1) in one process\n", o.devices, fmtRate(o.rate))
	fmt.Fprintf(w, "  agent MQTT   %s (devices log in with provisioned passwords)\n", dialable(s.agent.MQTTAddr()))
	fmt.Fprintf(w, "  agent HTTP   http://%s/v1/status\n", dialable(s.agent.HTTPAddr()))
	fmt.Fprintf(w, "  hub Kafka    %s\n", dialable(s.hubAddrs.Kafka))
	fmt.Fprintf(w, "  hub HTTP     http://%s/v1/topics\n", dialable(s.hubAddrs.HTTP))
	fmt.Fprintf(w, "  uplink       agent → relay %s → hub sync (QUIC) %s\n", s.relay.Addr(), dialable(s.hubAddrs.Sync))
	keep := "removed on exit; --keep keeps it"
	if o.keep {
		keep = "kept on exit"
	}
	fmt.Fprintf(w, "  data         %s (%s; log in demo.log)\n", s.root, keep)
	if o.outageEvery > 0 {
		fmt.Fprintf(w, "  outages      the uplink is cut every %v for %v\n", o.outageEvery, o.outageLength)
	}
	fmt.Fprintf(w, "consume the same data from another terminal:\n")
	fmt.Fprintf(w, "  kcat -b %s -C -t telemetry -o beginning\n", dialable(s.hubAddrs.Kafka))
	fmt.Fprintf(w, "  edgelog consume --kafka %s --topic telemetry --from-beginning\n", dialable(s.hubAddrs.Kafka))
	if o.duration > 0 {
		fmt.Fprintf(w, "running for %v (Ctrl-C stops earlier)\n", o.duration)
	} else {
		fmt.Fprintf(w, "running until Ctrl-C\n")
	}
}

// live runs the view until a stop request or the end of the fleet's run.
func (v *demoView) live(stops *stopRequests, kb *keyboard) {
	tick := time.NewTicker(demoTick)
	defer tick.Stop()
	lastRender := time.Time{}
	for {
		select {
		case <-stops.stop:
			v.event("stop requested")
			return
		case err := <-v.s.fleetDone:
			v.s.fleetDone <- err // for the shutdown
			v.event("the fleet finished its run")
			return
		case k := <-kb.Keys():
			switch k {
			case 'u', 'U':
				if v.cutNow() != nil {
					v.restore(time.Now(), true)
				} else {
					v.cut(time.Now(), false)
				}
				lastRender = time.Time{}
			case 'q', 'Q', 3, 4: // q, Ctrl-C, Ctrl-D
				stops.request()
			}
		case now := <-tick.C:
			v.schedule(now)
			v.verify(now)
		}
		if now := time.Now(); now.Sub(lastRender) >= demoRender {
			lastRender = now
			v.render(now)
		}
	}
}

func (v *demoView) cutNow() *demoOutage {
	if n := len(v.outages); n > 0 && v.outages[n-1].restored.IsZero() {
		return v.outages[n-1]
	}
	return nil
}

// schedule cuts and restores the uplink on time.
func (v *demoView) schedule(now time.Time) {
	if c := v.cutNow(); c != nil {
		c.peakLag = max(c.peakLag, v.lag())
		if !c.autoRestoreTime.IsZero() && !now.Before(c.autoRestoreTime) {
			v.restore(now, false)
		}
		return
	}
	if !v.nextCut.IsZero() && !now.Before(v.nextCut) {
		v.cut(now, true)
	}
}

func (v *demoView) cut(now time.Time, auto bool) {
	o := &demoOutage{n: len(v.outages) + 1, cut: now, autoRestoreTime: now.Add(v.s.o.outageLength)}
	v.outages = append(v.outages, o)
	v.s.relay.SetDown(true)
	if auto {
		v.nextCut = v.nextCut.Add(v.s.o.outageEvery)
	} else if !v.nextCut.IsZero() {
		v.nextCut = now.Add(v.s.o.outageEvery)
	}
	v.event("✖ uplink cut (outage %d, %v): the agent keeps acking into its WAL", o.n, v.s.o.outageLength)
}

func (v *demoView) restore(now time.Time, byKey bool) {
	o := v.cutNow()
	if o == nil {
		return
	}
	v.s.relay.SetDown(false)
	o.restored = now
	o.peakLag = max(o.peakLag, v.lag())
	o.mark = v.s.ledger.Mark()
	how := "uplink restored"
	if byKey {
		how = "uplink restored by key"
	}
	v.event("● %s after %.1fs: backlog %s records to drain", how, now.Sub(o.cut).Seconds(), demo.Count(o.peakLag))
}

// verify reports each restored outage once everything acknowledged up to
// the restore has been read back at the hub.
func (v *demoView) verify(now time.Time) {
	for _, o := range v.outages {
		if o.restored.IsZero() || o.verified {
			continue
		}
		if v.s.ledger.Missing(o.mark) == 0 {
			o.verified, o.drained = true, now.Sub(o.restored)
			c := v.s.ledger.Counts()
			v.event("✔ outage %d drained in %.1fs · %s acked, all at hub · %d dup · no loss",
				o.n, o.drained.Seconds(), demo.Count(o.mark.Total()), c.Duplicates)
		}
	}
}

// lag is the agent's backlog: durable records the hub has not acknowledged.
func (v *demoView) lag() uint64 {
	if v.s.stopAgent == nil {
		return v.lastStatus.Hub.LagRecords
	}
	return v.s.agent.Status().Hub.LagRecords
}

func (v *demoView) event(format string, args ...any) {
	e := demo.Clock(time.Since(v.start)) + " " + fmt.Sprintf(format, args...)
	v.events = append(v.events, e)
	if len(v.events) > 32 {
		v.events = v.events[len(v.events)-32:]
	}
	if v.tty == nil {
		fmt.Fprintln(v.out, e)
	}
}

// render samples everything and draws the view (or prints one line).
func (v *demoView) render(now time.Time) {
	f := v.frame(now)
	if v.tty != nil {
		v.tty.draw(demo.Screen(f))
		return
	}
	fmt.Fprintln(v.out, demo.Line(f))
}

func (v *demoView) frame(now time.Time) demo.Frame {
	s := v.s
	if s.stopAgent != nil {
		v.lastStatus = s.agent.Status()
	}
	st := v.lastStatus
	in := 0
	for _, n := range st.Publishes {
		in += n
	}
	if dt := now.Sub(v.lastInAt).Seconds(); dt > 0.5 {
		v.inRate, v.lastIn, v.lastInAt = float64(in-v.lastIn)/dt, in, now
	}
	v.lagHist = append(v.lagHist, st.Hub.LagRecords)
	if len(v.lagHist) > 120 {
		v.lagHist = v.lagHist[len(v.lagHist)-120:]
	}
	if s.stopHub != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if ts, err := s.hubTopics(ctx); err == nil {
			v.topics = ts
		}
		cancel()
	}
	fs := s.fleet.Stats()
	f := demo.Frame{
		Elapsed: now.Sub(v.start), Rate: s.o.rate, Devices: s.o.devices, Connected: int(fs.Connected),
		Queued: fs.Queued, InPerSec: v.inRate, Acked: fs.Acked,
		WALBytes: st.WAL.SizeBytes, WALRecords: max(st.WAL.NextSeq, 1) - 1, Fsync: st.WAL.Fsync,
		SyncConnected: st.Hub.Connected, LagRecords: st.Hub.LagRecords, LagAge: v.lagAge(), LagHistory: v.lagHist,
		HubAckedSeq: st.Hub.AckedSeq, Ledger: s.ledger.Counts(), Events: v.events, Interactive: v.keys,
		MQTT: dialable(s.agent.MQTTAddr()), Kafka: dialable(s.hubAddrs.Kafka), DataDir: s.root, Keep: s.o.keep,
	}
	if c := v.cutNow(); c != nil {
		f.UplinkCut, f.CutLeft = true, max(0, c.autoRestoreTime.Sub(now))
	} else if !v.nextCut.IsZero() {
		f.NextCut = max(0, v.nextCut.Sub(now))
	}
	sort.SliceStable(v.topics, func(i, j int) bool { return v.topics[i].Records > v.topics[j].Records })
	for _, t := range v.topics {
		dt := demo.Topic{Name: t.Name, Records: t.Records}
		for _, p := range t.Partitions {
			dt.Ends = append(dt.Ends, p.HighWatermark)
		}
		f.Topics = append(f.Topics, dt)
		f.HubRecords += t.Records
	}
	return f
}

// lagAge is the age of the oldest record the hub has not acknowledged, as
// the agent's shipper reports it in its metrics.
func (v *demoView) lagAge() time.Duration {
	if v.s.stopAgent == nil {
		return 0
	}
	mfs, err := v.s.agent.Registry().Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == "edgelog_sync_lag_oldest_seconds" && len(mf.GetMetric()) > 0 {
			return time.Duration(mf.GetMetric()[0].GetGauge().GetValue() * float64(time.Second))
		}
	}
	return 0
}

func fmtRate(r float64) string { return strings.TrimSuffix(fmt.Sprintf("%.2f", r), ".00") }

// waitFleet stops the fleet (if still running) and returns its result.
func (s *demoStack) waitFleet() error {
	s.stopFleet()
	err := <-s.fleetDone
	s.stopFleet = nil
	return err
}

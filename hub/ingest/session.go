package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/internal/pki"
	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/syncproto"
	"github.com/edgelog/edgelog/syncproto/quictransport"
)

// session is one established agent session. Its state machine and the
// control stream's writing side are owned by the goroutine running loop.
type session struct {
	srv     *Server
	conn    *quictransport.Conn
	ctl     *quictransport.Stream
	id      pki.Identity
	agentID string
	epoch   string
	hs      *syncproto.HubSession

	ctx    context.Context // ends when the session must stop
	cancel context.CancelCauseFunc
	done   chan struct{} // closed once the session has fully ended
}

// stop asks the session to end with err (sent to the agent).
func (s *session) stop(err error) { s.cancel(err) }

// serve runs one connection from accept to close.
func (s *Server) serve(life context.Context, c *quictransport.Conn) {
	sess, err := s.handshake(life, c)
	if err != nil {
		s.metrics.handshakes.WithLabelValues(refusal(err)).Inc()
		s.log.Info("ingest: agent refused", "remote", c.RemoteAddr().String(), "err", err)
		c.Close(err)
		return
	}
	s.metrics.handshakes.WithLabelValues("ok").Inc()
	err = sess.loop()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	if err != nil && !errors.Is(err, syncproto.ErrShuttingDown) && !errors.Is(err, syncproto.ErrSuperseded) {
		s.log.Info("ingest: session ended", "agent", sess.agentID, "err", err)
	}
	if sess.conn.Err() == nil {
		sess.sendError(err)
	}
	c.Close(err)
	s.broker.AgentDisconnected(sess.agentID)
	s.unregister(sess)
	close(sess.done)
}

// handshake reads the Hello (possibly 0-RTT data), authenticates the peer,
// takes over from a previous session of the agent and sends the Welcome.
func (s *Server) handshake(life context.Context, c *quictransport.Conn) (*session, error) {
	ctx, cancel := context.WithTimeout(life, s.cfg.HandshakeTimeout)
	defer cancel()
	ctl, err := c.AcceptControl(ctx)
	if err != nil {
		return nil, err
	}
	_ = ctl.SetReadDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	typ, body, err := syncproto.ReadFrame(ctl, syncproto.MaxControlFrame)
	if err != nil {
		return nil, err
	}
	_ = ctl.SetReadDeadline(time.Time{})
	id, err := c.Authenticate(ctx, s.cfg.Deny)
	if err != nil {
		return nil, err
	}
	if c.Used0RTT() {
		s.metrics.zeroRTT.Inc()
	}
	fail := func(err error) (*session, error) {
		writeError(ctl, err)
		return nil, err
	}
	if typ != syncproto.TypeHello {
		return fail(syncproto.Errorf(syncproto.CodeMalformed, "first frame is %v, not Hello", typ))
	}
	hello, err := syncproto.DecodeHello(body)
	if err != nil {
		return fail(err)
	}
	hs := syncproto.NewHubSession(s.cfg.Limits, nil)
	if err := hs.HandleHello(hello, id.AgentID); err != nil {
		return fail(err)
	}
	sctx, scancel := context.WithCancelCause(life)
	sess := &session{srv: s, conn: c, ctl: ctl, id: id, agentID: hello.AgentID, epoch: hello.Epoch, hs: hs,
		ctx: sctx, cancel: scancel, done: make(chan struct{})}
	old, err := s.register(sess)
	if err != nil {
		scancel(err)
		return fail(err)
	}
	if old != nil {
		old.stop(syncproto.Errorf(syncproto.CodeSuperseded, "a newer connection of agent %q took over", sess.agentID))
		select {
		case <-old.done:
		case <-ctx.Done():
			s.unregister(sess)
			scancel(ctx.Err())
			return nil, fmt.Errorf("ingest: previous session of %q did not end: %w", sess.agentID, ctx.Err())
		}
	}
	ok := false
	defer func() {
		if !ok {
			s.unregister(sess)
			scancel(nil)
		}
	}()
	resume := s.broker.AgentResume(sess.agentID, sess.epoch)
	w, err := hs.Welcome(resume - 1)
	if err != nil {
		return fail(err)
	}
	if gap := hs.Gap(); gap > 0 {
		s.metrics.gap.Add(float64(gap))
		s.log.Warn("ingest: agent dropped records before syncing them", "agent", sess.agentID,
			"epoch", sess.epoch, "records", gap, "from", resume, "to", hello.First-1)
	}
	if err := sess.writeFrame(w); err != nil {
		return nil, err
	}
	s.broker.AgentConnected(sess.agentID, sess.epoch, c.RemoteAddr().String())
	s.log.Info("ingest: agent connected", "agent", sess.agentID, "epoch", sess.epoch,
		"remote", c.RemoteAddr().String(), "resume_from", w.ResumeFrom, "log_next", hello.Next, "zero_rtt", c.Used0RTT())
	ok = true
	return sess, nil
}

// writeError best-effort sends an Error frame for err.
func writeError(ctl *quictransport.Stream, err error) {
	b, e := syncproto.EncodeControl(syncproto.NewErrorFrame(err))
	if e != nil {
		return
	}
	_ = ctl.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = ctl.Write(b)
}

func (s *session) sendError(err error) {
	if err == nil {
		return
	}
	writeError(s.ctl, err)
}

// writeFrame writes a control frame; a peer that does not read for a
// liveness period is dead.
func (s *session) writeFrame(f syncproto.ControlFrame) error {
	b, err := syncproto.EncodeControl(f)
	if err != nil {
		return err
	}
	_ = s.ctl.SetWriteDeadline(time.Now().Add(syncproto.LivenessFactor * s.hs.Limits().Heartbeat()))
	_, err = s.ctl.Write(b)
	return err
}

// incoming is one decoded batch (or the data stream's end).
type incoming struct {
	batch syncproto.Batch
	recs  []hub.AgentRecord
	err   error
}

// control is one frame from the control stream (or its end).
type control struct {
	frame syncproto.ControlFrame
	err   error
}

// loop runs the established session until it fails or is stopped.
func (s *session) loop() error {
	limits := s.hs.Limits()
	batches := make(chan incoming, limits.MaxInFlight)
	frames := make(chan control, 4)
	var readers sync.WaitGroup
	readers.Go(func() { s.readData(batches) })
	readers.Go(func() { s.readControl(frames) })
	defer func() {
		// Stop the readers (they may be blocked on the streams) and wait,
		// so nothing of this session runs once it has ended.
		s.cancel(nil)
		_ = s.ctl.SetReadDeadline(time.Now())
		readers.Wait()
	}()

	var pending []*hub.PendingMerge
	live := syncproto.NewLiveness(limits.Heartbeat(), time.Now())
	tick := time.NewTicker(limits.Heartbeat() / 2)
	defer tick.Stop()
	for {
		var merged <-chan struct{}
		if len(pending) > 0 {
			merged = pending[0].Done()
		}
		select {
		case <-s.ctx.Done():
			return s.drain(pending, context.Cause(s.ctx))
		case in := <-batches:
			if in.err != nil {
				return in.err
			}
			live.Heard(time.Now())
			if err := s.hs.HandleBatch(&in.batch); err != nil {
				return err
			}
			// A merge, once started, completes even if the session stops.
			pm, err := s.srv.broker.StartMerge(context.WithoutCancel(s.ctx), s.agentID, s.epoch, in.recs)
			if err != nil {
				return syncproto.Errorf(syncproto.CodeInternal, "merge: %v", err)
			}
			pending = append(pending, pm)
		case <-merged:
			if err := s.acknowledge(pending[0]); err != nil {
				return err
			}
			pending = pending[1:]
		case c := <-frames:
			if c.err != nil {
				return c.err
			}
			live.Heard(time.Now())
			hb, ok, err := s.hs.HandleControl(c.frame)
			if err != nil {
				return err
			}
			if ok {
				s.report(hb)
			}
		case now := <-tick.C:
			if live.Dead(now) {
				return syncproto.Errorf(syncproto.CodeTimeout, "no frame from the agent for %v", live.Silence(now).Round(time.Millisecond))
			}
			if live.Due(now) {
				if err := s.writeFrame(syncproto.HeartbeatNow(now)); err != nil {
					return err
				}
				live.Sent(now)
			}
		}
	}
}

// acknowledge sends the Ack for a completed merge.
func (s *session) acknowledge(pm *hub.PendingMerge) error {
	through, err := pm.Wait(context.Background()) // done already
	if err != nil {
		return syncproto.Errorf(syncproto.CodeInternal, "merge: %v", err)
	}
	ack, ok, err := s.hs.Merged(through)
	if err != nil || !ok {
		return err
	}
	return s.writeFrame(ack)
}

// drain waits (bounded) for the merges in flight and acknowledges them, so
// a stopping session leaves the agent as little as possible to resend.
func (s *session) drain(pending []*hub.PendingMerge, cause error) error {
	timer := time.NewTimer(s.srv.cfg.DrainTimeout)
	defer timer.Stop()
	for _, pm := range pending {
		select {
		case <-pm.Done():
			if s.acknowledge(pm) != nil {
				return cause
			}
		case <-timer.C:
			return cause
		}
	}
	return cause
}

// report passes the agent's lag report to the broker's status.
func (s *session) report(hb syncproto.Heartbeat) {
	var recs uint64
	if hb.Durable > s.hs.Acked() {
		recs = hb.Durable - s.hs.Acked()
	}
	s.srv.broker.AgentReport(s.agentID, hub.AgentLag{
		Records: recs, Bytes: hb.LagBytes, Oldest: time.Duration(hb.OldestAgeMs) * time.Millisecond,
	})
}

// readControl feeds control frames to the loop until the stream fails.
func (s *session) readControl(out chan<- control) {
	for {
		typ, body, err := syncproto.ReadFrame(s.ctl, syncproto.MaxControlFrame)
		var f syncproto.ControlFrame
		if err == nil {
			f, err = syncproto.DecodeControl(typ, body)
		}
		select {
		case out <- control{frame: f, err: err}:
		case <-s.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// readData accepts the data stream and feeds decoded batches to the loop.
// The channel's capacity (MaxInFlight) bounds what is held decoded.
func (s *session) readData(out chan<- incoming) {
	send := func(in incoming) bool {
		select {
		case out <- in:
			return in.err == nil
		case <-s.ctx.Done():
			return false
		}
	}
	data, err := s.conn.AcceptData(s.ctx)
	if err != nil {
		send(incoming{err: err})
		return
	}
	defer data.Cancel()
	stopRead := context.AfterFunc(s.ctx, func() { _ = data.SetReadDeadline(time.Now()) })
	defer stopRead()
	maxFrame := s.hs.Limits().MaxDataFrame()
	for {
		typ, body, err := syncproto.ReadFrame(data, maxFrame)
		if err != nil {
			send(incoming{err: err})
			return
		}
		if typ != syncproto.TypeBatch {
			send(incoming{err: syncproto.Errorf(syncproto.CodeMalformed, "%v on the data stream", typ)})
			return
		}
		b, err := s.srv.decoder.Decode(body)
		if err != nil {
			send(incoming{err: err})
			return
		}
		recs := make([]hub.AgentRecord, len(b.Records))
		for i, p := range b.Records {
			seq := b.First + uint64(i)
			r, err := record.Decode(p)
			if err != nil {
				send(incoming{err: syncproto.Errorf(syncproto.CodeMalformed, "record %d: %v", seq, err)})
				return
			}
			recs[i] = hub.AgentRecord{Seq: seq, Rec: r}
		}
		s.srv.metrics.batches.Inc()
		s.srv.metrics.records.Add(float64(len(recs)))
		s.srv.metrics.wireBytes.Add(float64(b.WireBytes))
		s.srv.metrics.rawBytes.Add(float64(b.RawBytes))
		if !send(incoming{batch: b, recs: recs}) {
			return
		}
	}
}

package shipper

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgelog/edgelog/syncproto"
	"github.com/edgelog/edgelog/syncproto/quictransport"
	"github.com/edgelog/edgelog/wal"
)

// built is an encoded batch from the builder.
type built struct {
	frame []byte
	info  syncproto.BatchInfo
}

// frameIn is one control frame from the hub (or the stream's end).
type frameIn struct {
	frame syncproto.ControlFrame
	err   error
}

// session runs one connection: handshake, then shipping until an error or
// ctx ends. established reports whether the hub's Welcome arrived.
func (s *Shipper) session(ctx context.Context) (established bool, err error) {
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	conn, err := s.dialer.Dial(hctx, s.cfg.Hub)
	if err != nil {
		return false, err
	}
	defer func() {
		closeErr := err
		if ctx.Err() != nil {
			closeErr = syncproto.Errorf(syncproto.CodeShuttingDown, "agent stopping")
		}
		conn.Close(closeErr)
	}()
	as := syncproto.NewAgentSession(s.agentID, s.wal.Epoch(), nil)
	hello, err := as.Hello(s.wal.First(), s.wal.Next())
	if err != nil {
		return false, err
	}
	ctl, f, err := s.greet(hctx, conn, hello)
	if errors.Is(err, quictransport.Err0RTTRejected) {
		// The hub did not take the Hello as 0-RTT data (it restarted and
		// forgot the session ticket): finish the handshake and resend it.
		if err := conn.NextConnection(hctx); err != nil {
			return false, err
		}
		ctl, f, err = s.greet(hctx, conn, hello)
	}
	if err != nil {
		return false, err
	}
	ev, err := as.Handle(f)
	if err != nil {
		return false, err
	}
	_ = ctl.SetReadDeadline(time.Time{})
	s.setConnected(true)
	s.sessions.Add(1)
	s.noteAcked(ev.ResumeFrom - 1)
	s.log.Info("sync: connected", "resume_from", ev.ResumeFrom, "log_next", hello.Next, "zero_rtt", conn.Used0RTT())

	reader, err := s.wal.NewReader(ev.ResumeFrom)
	if err != nil {
		return true, fmt.Errorf("shipper: read the WAL from %d: %w", ev.ResumeFrom, err)
	}
	defer reader.Close()
	data, err := conn.OpenData(ctx)
	if err != nil {
		return true, err
	}
	return true, s.ship(ctx, conn, ctl, data, as, reader)
}

// greet opens the control stream, sends the Hello and reads the answer.
func (s *Shipper) greet(ctx context.Context, conn *quictransport.Conn, hello syncproto.Hello) (*quictransport.Stream, syncproto.ControlFrame, error) {
	ctl, err := conn.OpenControl(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := writeControl(ctl, hello, s.cfg.HandshakeTimeout); err != nil {
		return nil, nil, err
	}
	_ = ctl.SetReadDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	f, err := readControl(ctl)
	if err != nil {
		return nil, nil, err
	}
	return ctl, f, nil
}

// ship runs the established session: builder → (this goroutine) → writer,
// acknowledgements and heartbeats on the control stream.
func (s *Shipper) ship(ctx context.Context, conn *quictransport.Conn, ctl *quictransport.Stream,
	data *quictransport.SendStream, as *syncproto.AgentSession, reader *wal.Reader) error {
	limits := as.Limits()
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	bctx, stopBuilder := context.WithCancel(sctx)
	defer stopBuilder()

	credits := make(chan struct{}, limits.MaxInFlight)
	for range limits.MaxInFlight {
		credits <- struct{}{}
	}
	batches := make(chan built)
	toWriter := make(chan built, limits.MaxInFlight)
	frames := make(chan frameIn, 4)
	errc := make(chan error, 2)
	done := make(chan struct{})
	defer func() {
		// Unblock the stream calls of the helpers, then wait for them.
		stop()
		_ = ctl.SetReadDeadline(time.Now())
		_ = data.SetWriteDeadline(time.Now())
		<-done
		<-done
		<-done
	}()
	go func() { defer func() { done <- struct{}{} }(); s.build(bctx, reader, limits, credits, batches, errc) }()
	go func() { defer func() { done <- struct{}{} }(); s.write(sctx, data, toWriter, errc) }()
	go func() { defer func() { done <- struct{}{} }(); readFrames(sctx, ctl, frames) }()

	hb := limits.Heartbeat()
	live := syncproto.NewLiveness(hb, time.Now())
	tick := time.NewTicker(hb / 2)
	defer tick.Stop()
	stopping := ctx.Done()
	var drainDeadline <-chan time.Time
	for {
		if drainDeadline != nil && as.InFlight() == 0 {
			return nil
		}
		select {
		case <-stopping:
			// Stop reading the WAL; wait (bounded) for what is in flight.
			stopping = nil
			stopBuilder()
			drainDeadline = time.After(s.cfg.DrainTimeout)
		case <-drainDeadline:
			return nil
		case b := <-batches:
			if err := as.Sent(b.info.First, b.info.Count, b.info.RawBytes); err != nil {
				return err
			}
			toWriter <- b // never blocks: at most MaxInFlight batches are unacknowledged
		case err := <-errc:
			return err
		case in := <-frames:
			if in.err != nil {
				return in.err
			}
			live.Heard(time.Now())
			s.touch()
			before := as.InFlight()
			ev, err := as.Handle(in.frame)
			if err != nil {
				return err
			}
			if ev.Acked {
				s.noteAcked(ev.AckedThrough)
			}
			for range before - as.InFlight() {
				credits <- struct{}{}
			}
		case now := <-tick.C:
			if live.Dead(now) {
				return syncproto.Errorf(syncproto.CodeTimeout, "no frame from the hub for %v", live.Silence(now).Round(time.Millisecond))
			}
			if live.Due(now) {
				if err := writeControl(ctl, s.heartbeat(now), syncproto.LivenessFactor*hb); err != nil {
					return err
				}
				live.Sent(now)
			}
		}
	}
}

func (s *Shipper) heartbeat(now time.Time) syncproto.Heartbeat {
	l := s.lag.Load()
	return syncproto.Heartbeat{TimeMs: now.UnixMilli(), Durable: s.wal.Durable(), LagBytes: l.bytes, OldestAgeMs: l.oldest.Milliseconds()}
}

// build turns WAL records into encoded batches, one per credit: a batch
// starts with the next record (waiting for it) and takes whatever else is
// already durable, up to the limits.
func (s *Shipper) build(ctx context.Context, r *wal.Reader, limits syncproto.Limits, credits <-chan struct{},
	out chan<- built, errc chan<- error) {
	b := syncproto.NewBatchBuilder(limits)
	var held []byte // a record read but not fitting the previous batch
	var heldSeq uint64
	fail := func(err error) {
		if ctx.Err() == nil {
			errc <- err
		}
	}
	for {
		select {
		case <-credits:
		case <-ctx.Done():
			return
		}
		seq, p := heldSeq, held
		if held == nil {
			var err error
			if seq, p, err = s.next(ctx, r); err != nil {
				if ctx.Err() == nil {
					fail(fmt.Errorf("shipper: read WAL: %w", err))
				}
				return
			}
		}
		held = nil
		if b.Reset(seq); !b.Fits(len(p)) {
			fail(fmt.Errorf("shipper: record %d of %d bytes is over the hub's limit of %d", seq, len(p), limits.MaxRecordBytes))
			return
		}
		b.Add(p)
		for b.Len() < limits.MaxBatchRecords {
			seq, p, ok, err := r.TryNext()
			if err != nil {
				fail(fmt.Errorf("shipper: read WAL: %w", err))
				return
			}
			if !ok {
				break
			}
			if !b.Fits(len(p)) {
				held, heldSeq = append([]byte(nil), p...), seq
				break
			}
			b.Add(p)
		}
		frame, info, err := b.Encode(nil, s.comp)
		if err != nil {
			fail(err)
			return
		}
		select {
		case out <- built{frame: frame, info: info}:
		case <-ctx.Done():
			return
		}
	}
}

// syncNudge is how long the builder waits for a durable record before
// checking whether records are written but not fsynced.
const syncNudge = 20 * time.Millisecond

// next waits for the next durable record. Only fsynced records are ever
// shipped, so the hub never holds a record a power cut could take from the
// agent (which would reuse its sequence). Under a WAL policy that does not
// fsync on its own (--fsync never), records appended but not fsynced for
// syncNudge are fsynced here, by the shipper, before they are sent.
func (s *Shipper) next(ctx context.Context, r *wal.Reader) (uint64, []byte, error) {
	for {
		wctx, cancel := context.WithTimeout(ctx, syncNudge)
		seq, p, err := r.Next(wctx)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return seq, p, err
		}
		if s.wal.Next()-1 > s.wal.Durable() {
			// Bounded, and retried by the loop: a Sync racing the commit
			// goroutine's own fsync can miss its wake-up.
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			err := s.wal.Sync(sctx)
			cancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return 0, nil, err
			}
		}
	}
}

// write sends encoded batches on the data stream, paced by the upload cap.
func (s *Shipper) write(ctx context.Context, data *quictransport.SendStream, in <-chan built, errc chan<- error) {
	for {
		var b built
		select {
		case b = <-in:
		case <-ctx.Done():
			return
		}
		for rest := b.frame; len(rest) > 0; {
			n := len(rest)
			if s.limiter != nil {
				n = min(n, s.burst)
				if err := s.limiter.WaitN(ctx, n); err != nil {
					return
				}
			}
			if _, err := data.Write(rest[:n]); err != nil {
				if ctx.Err() == nil {
					errc <- err
				}
				return
			}
			rest = rest[n:]
		}
		s.metrics.batches.Inc()
		s.metrics.records.Add(float64(b.info.Count))
		s.metrics.rawBytes.Add(float64(b.info.RawBytes))
		s.metrics.wireBytes.Add(float64(b.info.WireBytes))
		raw, wire := s.rawTotal.Add(uint64(b.info.RawBytes)), s.wireTotal.Add(uint64(b.info.WireBytes))
		s.metrics.ratio.Set(float64(raw) / float64(wire))
	}
}

// readFrames feeds control frames to the session loop until the stream
// fails or ctx ends.
func readFrames(ctx context.Context, ctl *quictransport.Stream, out chan<- frameIn) {
	for {
		f, err := readControl(ctl)
		select {
		case out <- frameIn{frame: f, err: err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

func readControl(ctl *quictransport.Stream) (syncproto.ControlFrame, error) {
	typ, body, err := syncproto.ReadFrame(ctl, syncproto.MaxControlFrame)
	if err != nil {
		return nil, err
	}
	return syncproto.DecodeControl(typ, body)
}

func writeControl(ctl *quictransport.Stream, f syncproto.ControlFrame, timeout time.Duration) error {
	b, err := syncproto.EncodeControl(f)
	if err != nil {
		return err
	}
	_ = ctl.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := ctl.Write(b); err != nil {
		return err
	}
	return nil
}

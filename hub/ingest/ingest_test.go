package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/internal/pki"
	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/syncproto"
	"github.com/edgelog/edgelog/syncproto/quictransport"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type fixture struct {
	t      *testing.T
	ca     *pki.Authority
	deny   *pki.DenyList
	broker *hub.Broker
	srv    *Server
	stop   context.CancelFunc
	done   chan error
}

func start(t *testing.T, limits syncproto.Limits) *fixture {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hub.Open(hub.Config{Dir: dir, Partitions: 2, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ca: ca, deny: &pki.DenyList{}, broker: b, done: make(chan error, 1)}
	f.srv, err = New(b, Config{Listen: "127.0.0.1:0", TLS: ca.ServerTLS(), Deny: f.deny, Limits: limits, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	go func() { f.done <- f.srv.Run(ctx) }()
	t.Cleanup(func() {
		f.shutdown()
		b.Close()
	})
	return f
}

func (f *fixture) shutdown() {
	if f.stop == nil {
		return
	}
	f.stop()
	if err := <-f.done; err != nil {
		f.t.Errorf("Run: %v", err)
	}
	f.stop = nil
}

// rawAgent speaks the protocol frame by frame.
type rawAgent struct {
	t    *testing.T
	conn *quictransport.Conn
	ctl  *quictransport.Stream
	data *quictransport.SendStream
}

func (f *fixture) dial(id string) *rawAgent {
	f.t.Helper()
	b, err := f.ca.MintAgent(id, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	bundle, err := pki.ParseBundle(b)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := quictransport.NewDialer(bundle.ClientTLS(), quictransport.Config{}).Dial(ctx, f.srv.Addr().String())
	if err != nil {
		f.t.Fatal(err)
	}
	ctl, err := c.OpenControl(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close(nil) })
	return &rawAgent{t: f.t, conn: c, ctl: ctl}
}

func (a *rawAgent) send(fr syncproto.ControlFrame) {
	a.t.Helper()
	b, err := syncproto.EncodeControl(fr)
	if err != nil {
		a.t.Fatal(err)
	}
	if _, err := a.ctl.Write(b); err != nil {
		a.t.Fatal(err)
	}
}

// recv returns the next control frame that is not a heartbeat, or the
// error that ended the session (an Error frame's, or the connection's).
func (a *rawAgent) recv() (syncproto.ControlFrame, error) {
	a.t.Helper()
	_ = a.ctl.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		typ, body, err := syncproto.ReadFrame(a.ctl, syncproto.MaxControlFrame)
		if err != nil {
			return nil, err
		}
		fr, err := syncproto.DecodeControl(typ, body)
		if err != nil {
			a.t.Fatalf("hub sent a bad frame: %v", err)
		}
		switch fr := fr.(type) {
		case syncproto.Heartbeat:
			continue
		case syncproto.ErrorFrame:
			return nil, fr.Err()
		}
		return fr, nil
	}
}

func (a *rawAgent) welcome(h syncproto.Hello) syncproto.Welcome {
	a.t.Helper()
	a.send(h)
	fr, err := a.recv()
	if err != nil {
		a.t.Fatalf("handshake: %v", err)
	}
	w, ok := fr.(syncproto.Welcome)
	if !ok {
		a.t.Fatalf("got %T, want Welcome", fr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a.data, err = a.conn.OpenData(ctx)
	if err != nil {
		a.t.Fatal(err)
	}
	return w
}

func (a *rawAgent) sendRaw(b []byte) {
	a.t.Helper()
	if _, err := a.data.Write(b); err != nil {
		a.t.Fatal(err)
	}
}

func encodedRecord(t *testing.T, seq uint64) []byte {
	r := record.Record{TimeMs: 1700000000000 + int64(seq), ClientID: fmt.Sprintf("dev-%d", seq%3), Topic: "telemetry/x", QoS: 1,
		Payload: fmt.Appendf(nil, "p%d", seq)}
	b, err := record.Encode(&r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func batchFrame(t *testing.T, first uint64, n int) []byte {
	bb := syncproto.NewBatchBuilder(syncproto.Limits{})
	bb.Reset(first)
	for i := range n {
		bb.Add(encodedRecord(t, first+uint64(i)))
	}
	b, _, err := bb.Encode(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hello(id, epoch string, first, next uint64) syncproto.Hello {
	return syncproto.Hello{AgentID: id, Versions: []uint16{1}, Epoch: epoch, First: first, Next: next}
}

const epoch = "0123456789abcdef0123456789abcdef"

func TestAcksAfterDurableMerge(t *testing.T) {
	f := start(t, syncproto.Limits{})
	a := f.dial("gw-1")
	w := a.welcome(hello("gw-1", epoch, 1, 101))
	if w.ResumeFrom != 1 || w.Version != 1 {
		t.Fatalf("welcome %+v", w)
	}
	a.sendRaw(batchFrame(t, 1, 40))
	a.sendRaw(batchFrame(t, 41, 60))
	var through uint64
	for through < 100 {
		fr, err := a.recv()
		if err != nil {
			t.Fatal(err)
		}
		ack := fr.(syncproto.Ack)
		if ack.Through <= through {
			t.Fatalf("ack went from %d to %d", through, ack.Through)
		}
		through = ack.Through
		// Acknowledged means durable: a session starting now resumes after it.
		if got := f.broker.AgentResume("gw-1", epoch); got <= through {
			t.Fatalf("acked through %d but the hub resumes at %d", through, got)
		}
	}
	a.send(syncproto.Heartbeat{TimeMs: 1, Durable: 150, LagBytes: 999, OldestAgeMs: 2500})
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := f.broker.Agents()
		if len(st) == 1 && st[0].Connected && st[0].LagRecords == 50 && st[0].LagBytes == 999 && st[0].LagSeconds == 2.5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent status %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A reconnection resumes after what was merged.
	a.conn.Close(nil)
	b := f.dial("gw-1")
	if w := b.welcome(hello("gw-1", epoch, 1, 101)); w.ResumeFrom != 101 {
		t.Fatalf("resume from %d, want 101", w.ResumeFrom)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	f := start(t, syncproto.Limits{})
	// Merge 100 records of epoch so the conflict case has something.
	a := f.dial("gw-merged")
	a.welcome(hello("gw-merged", epoch, 1, 101))
	a.sendRaw(batchFrame(t, 1, 100))
	for {
		fr, err := a.recv()
		if err != nil {
			t.Fatal(err)
		}
		if fr.(syncproto.Ack).Through == 100 {
			break
		}
	}
	a.conn.Close(nil)
	if err := f.deny.Set([]string{"gw-revoked"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		cert  string
		first syncproto.ControlFrame
		want  error
	}{
		{"hello names another agent", "gw-1", hello("gw-2", epoch, 1, 1), syncproto.ErrUnauthorized},
		{"no common version", "gw-1", syncproto.Hello{AgentID: "gw-1", Versions: []uint16{9}, Epoch: epoch, First: 1, Next: 1}, syncproto.ErrBadVersion},
		{"first frame not a hello", "gw-1", syncproto.Ack{Through: 1}, syncproto.ErrMalformed},
		{"rolled-back log in the same epoch", "gw-merged", hello("gw-merged", epoch, 1, 51), syncproto.ErrEpochConflict},
		{"revoked", "gw-revoked", hello("gw-revoked", epoch, 1, 1), syncproto.ErrRevoked},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := f.dial(c.cert)
			a.send(c.first)
			fr, err := a.recv()
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v %v, want %v", fr, err, c.want)
			}
			var pe *syncproto.Error
			if !errors.As(err, &pe) || !pe.Remote {
				t.Fatalf("error %v is not the hub's", err)
			}
		})
	}
}

func TestMalformedData(t *testing.T) {
	f := start(t, syncproto.Limits{MaxBatchRecords: 10})
	garbage := []byte{0, 0, 0, 3, byte(syncproto.TypeBatch), 0xff, 0xff}
	badRecord := func() []byte {
		bb := syncproto.NewBatchBuilder(syncproto.Limits{})
		bb.Reset(1)
		bb.Add([]byte("not a record"))
		b, _, _ := bb.Encode(nil, nil)
		return b
	}()
	control, _ := syncproto.EncodeControl(syncproto.Ack{Through: 1})
	cases := []struct {
		name string
		data []byte
	}{
		{"gap", batchFrame(t, 2, 3)},
		{"over the record limit", batchFrame(t, 1, 11)},
		{"undecodable batch", garbage},
		{"undecodable record", badRecord},
		{"control frame on the data stream", control},
		{"frame over the cap", []byte{0x7f, 0xff, 0xff, 0xff, byte(syncproto.TypeBatch)}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := fmt.Sprintf("gw-%d", i)
			a := f.dial(id)
			a.welcome(hello(id, epoch, 1, 100))
			a.sendRaw(c.data)
			if fr, err := a.recv(); !errors.Is(err, syncproto.ErrMalformed) {
				t.Fatalf("got %v %v, want ErrMalformed", fr, err)
			}
			if got := f.broker.AgentResume(id, epoch); got != 1 {
				t.Fatalf("something was merged from a malformed batch: resume at %d", got)
			}
		})
	}
}

func TestSupersededAndShutdown(t *testing.T) {
	f := start(t, syncproto.Limits{})
	a := f.dial("gw-1")
	a.welcome(hello("gw-1", epoch, 1, 1))
	b := f.dial("gw-1")
	b.welcome(hello("gw-1", epoch, 1, 1))
	if _, err := a.recv(); !errors.Is(err, syncproto.ErrSuperseded) {
		t.Fatalf("old session: %v, want ErrSuperseded", err)
	}
	if f.srv.Sessions() != 1 {
		t.Fatalf("%d sessions", f.srv.Sessions())
	}
	f.shutdown()
	if _, err := b.recv(); !errors.Is(err, syncproto.ErrShuttingDown) {
		t.Fatalf("at shutdown: %v, want ErrShuttingDown", err)
	}
}

func TestGapIsCountedAndSkipped(t *testing.T) {
	f := start(t, syncproto.Limits{})
	a := f.dial("gw-1")
	// The agent dropped records 1..9 (drop-oldest) before the hub saw them.
	if w := a.welcome(hello("gw-1", epoch, 10, 20)); w.ResumeFrom != 10 {
		t.Fatalf("resume from %d, want 10", w.ResumeFrom)
	}
	a.sendRaw(batchFrame(t, 10, 10))
	fr, err := a.recv()
	if err != nil || fr.(syncproto.Ack).Through != 19 {
		t.Fatalf("ack %v %v", fr, err)
	}
}

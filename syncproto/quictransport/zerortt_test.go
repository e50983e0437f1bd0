//go:build !race

// The 0-RTT tests run without the race detector: quic-go (v0.65, upstream
// issue 4303) reads the peer's transport parameters unsynchronised when a
// stream is opened before the handshake completes, which is what 0-RTT
// does. That is also why Config.ZeroRTT is off by default.

package quictransport

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgelog/edgelog/syncproto"
)

// TestZeroRTTHello: with Config.ZeroRTT, a reconnection resumes the TLS
// session and its first bytes travel as 0-RTT data.
func TestZeroRTTHello(t *testing.T) {
	h := newHub(t, Config{})
	addr := h.ln.Addr().String()
	d := NewDialer(h.bundle(t, h.ca, "gw-1"), Config{ZeroRTT: true})
	c1, ctl1, err := connect(t, d, addr, "gw-1")
	if err != nil {
		t.Fatal(err)
	}
	a := waitAccepted(t, h)
	if c1.Used0RTT() || a.conn.Used0RTT() {
		t.Fatal("first connection used 0-RTT")
	}
	// A round trip after the handshake delivers the session ticket.
	if _, err := a.ctl.Write(helloFrame(t, "pong")); err != nil {
		t.Fatal(err)
	}
	_ = ctl1.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, _, err := syncproto.ReadFrame(ctl1, syncproto.MaxControlFrame); err != nil {
		t.Fatal(err)
	}
	c1.Close(nil)
	c2, _, err := connect(t, d, addr, "gw-1")
	if err != nil {
		t.Fatal(err)
	}
	a2 := waitAccepted(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c2.HandshakeComplete(ctx); err != nil {
		t.Fatal(err)
	}
	if !a2.conn.Used0RTT() || !c2.Used0RTT() {
		t.Fatalf("reconnection did not use 0-RTT (hub %v, agent %v)", a2.conn.Used0RTT(), c2.Used0RTT())
	}
	if a2.id.AgentID != "gw-1" {
		t.Fatalf("resumed identity %+v", a2.id)
	}
}

// TestZeroRTTRejected: a hub that does not know the agent's session ticket
// (it restarted) rejects the 0-RTT Hello; after NextConnection the agent
// resends it on the same connection.
func TestZeroRTTRejected(t *testing.T) {
	h1 := newHub(t, Config{})
	d := NewDialer(h1.bundle(t, h1.ca, "gw-1"), Config{ZeroRTT: true})
	_, ctl, err := connect(t, d, h1.ln.Addr().String(), "gw-1")
	if err != nil {
		t.Fatal(err)
	}
	a := waitAccepted(t, h1)
	if _, err := a.ctl.Write(helloFrame(t, "pong")); err != nil {
		t.Fatal(err)
	}
	_ = ctl.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, _, err := syncproto.ReadFrame(ctl, syncproto.MaxControlFrame); err != nil {
		t.Fatal(err)
	}
	// Another hub process of the same CA: same name, different ticket keys.
	ln2, err := Listen("127.0.0.1:0", h1.ca.ServerTLS(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	accepted := make(chan *Stream, 1)
	go func() {
		for {
			c, err := ln2.Accept(ctx)
			if err != nil {
				return
			}
			go func() {
				if _, err := c.Authenticate(ctx, nil); err != nil {
					return
				}
				s, err := c.AcceptControl(ctx)
				if err == nil {
					accepted <- s
				}
			}()
		}
	}()
	c, err := d.Dial(ctx, ln2.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(nil)
	greet := func() error {
		s, err := c.OpenControl(ctx)
		if err != nil {
			return err
		}
		if _, err := s.Write(helloFrame(t, "gw-1")); err != nil {
			return err
		}
		_ = s.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err = s.Read(make([]byte, 1))
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- greet() }()
	select {
	case err := <-errc:
		if !errors.Is(err, Err0RTTRejected) {
			t.Fatalf("first attempt: %v, want Err0RTTRejected", err)
		}
	case <-accepted:
		t.Fatal("a hub accepted 0-RTT data of a ticket it never issued")
	}
	if err := c.NextConnection(ctx); err != nil {
		t.Fatal(err)
	}
	go func() { errc <- greet() }()
	var hubCtl *Stream
	select {
	case hubCtl = <-accepted:
	case err := <-errc:
		t.Fatalf("after NextConnection: %v", err)
	case <-ctx.Done():
		t.Fatal("the resent Hello never arrived")
	}
	if typ, _, err := syncproto.ReadFrame(hubCtl, syncproto.MaxControlFrame); err != nil || typ != syncproto.TypeHello {
		t.Fatalf("hub read %v %v", typ, err)
	}
}

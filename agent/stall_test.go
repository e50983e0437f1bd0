package agent

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestStalledSubscriberThatKeepsSendingIsDisconnected: a QoS 1 subscriber
// that stops reading but keeps publishing (a client whose message handler
// hangs) is still cut off after the write timeout, whatever its
// keep-alive: mochi refreshes its keep-alive deadline on every packet it
// reads, which must not postpone the write timeout.
func TestStalledSubscriberThatKeepsSendingIsDisconnected(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts rawOpts
	}{{"keepalive-60s", rawOpts{}}, {"keepalive-0", rawOpts{noKeepalive: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			ta := startAgent(t, Config{OutboundQueue: 8192, WriteTimeout: 500 * time.Millisecond})
			sub := dialRaw(t, ta.MQTTAddr(), "stalled-chatty", tc.opts)
			sub.subscribe(1, packets.Subscription{Filter: "load/#", Qos: 1})
			if err := sub.conn.(*net.TCPConn).SetReadBuffer(4 << 10); err != nil {
				t.Fatal(err)
			}
			var stop atomic.Bool
			chatting := make(chan struct{})
			go func() {
				defer close(chatting)
				for !stop.Load() {
					_ = sub.conn.SetWriteDeadline(time.Now().Add(time.Second))
					if _, err := sub.conn.Write(sub.encodePublish("chat/x", []byte("hi"), 0, 0, packets.Properties{})); err != nil {
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}()
			publishFlood(t, ta, 4000)
			stop.Store(true)
			<-chatting
			if got := metricLine(t, ta.Agent, "edgelog_agent_write_timeouts_total"); got == "edgelog_agent_write_timeouts_total 0" || got == "" {
				t.Fatalf("metric %q, want a write timeout counted", got)
			}
		})
	}
}

// TestHalfOpenConnectionsAreClosed: a connection that sends no CONNECT, or
// only part of one, is closed after the connect timeout; clients that
// connect properly are not affected.
func TestHalfOpenConnectionsAreClosed(t *testing.T) {
	ta := startAgent(t, Config{ConnectTimeout: 300 * time.Millisecond})
	silent, err := net.Dial("tcp", ta.MQTTAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	partial, err := net.Dial("tcp", ta.MQTTAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer partial.Close()
	if _, err := partial.Write([]byte{0x10, 0x20, 0x00, 0x04, 'M'}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]net.Conn{"silent": silent, "partial CONNECT": partial} {
		_ = c.SetReadDeadline(time.Now().Add(waitLong))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("%s connection: read data, want it closed", name)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s connection still open after %v", name, waitLong)
		}
	}
	// A client that keeps quiet after CONNECT is under its keep-alive
	// instead, and stays.
	c := dialRaw(t, ta.MQTTAddr(), "quiet-device", rawOpts{})
	time.Sleep(time.Second)
	c.publish("t/ok", []byte("x"), 1, 1)
	c.expect(packets.Puback, 1)
}

package agent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// connOf returns the agent's state for the connected client id.
func (ta *testAgent) connOf(id string) *conn {
	ta.t.Helper()
	var found *conn
	waitFor(ta.t, "connection of "+id, func() bool {
		ta.conns.Range(func(k, v any) bool {
			if c := v.(*conn); c.cl.ID == id {
				found = c
				return false
			}
			return true
		})
		return found != nil
	})
	return found
}

func (c *conn) workerRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running
}

// TestIdleConnectionsHoldNoWorker: a connected device that is not
// publishing costs the agent no goroutine of its own; its worker starts
// with a publish, answers it, exits once idle, and comes back with the
// next publish.
func TestIdleConnectionsHoldNoWorker(t *testing.T) {
	ta := startAgent(t, Config{})
	before := runtime.NumGoroutine()
	const devices = 20
	clients := make([]*rawClient, devices)
	for i := range clients {
		clients[i] = dialRaw(t, ta.MQTTAddr(), fmt.Sprintf("idle-%d", i), rawOpts{})
		clients[i].publish("telemetry/idle", []byte("hello"), 1, 1)
		clients[i].expect(packets.Puback, 1)
	}
	// mochi keeps a reading and a writing goroutine per connection; the
	// agent adds none once the connections are idle.
	waitFor(t, "idle connections' workers to exit", func() bool {
		return runtime.NumGoroutine() <= before+2*devices
	})

	c := ta.connOf("idle-0")
	for pid := uint16(2); pid < 5; pid++ {
		waitFor(t, "the worker to exit", func() bool { return !c.workerRunning() })
		qos := byte(pid%2 + 1)
		clients[0].publish("telemetry/idle", []byte{byte(pid)}, qos, pid)
		if qos == 1 {
			clients[0].expect(packets.Puback, pid)
		} else {
			clients[0].expect(packets.Pubrec, pid)
			clients[0].pubrel(pid)
			clients[0].expect(packets.Pubcomp, pid)
		}
	}
	ta.shutdown()
	if got := len(readWAL(t, ta.dir)); got != devices+3 {
		t.Fatalf("%d records in the WAL, want %d", got, devices+3)
	}
}

// TestSlowSubscriberDoesNotStallAcks: a local QoS 0 subscriber that stops
// reading neither delays nor blocks publishers' acknowledgements; what
// does not fit its outbound queue is dropped for it (counted), and what it
// does get is in publish order.
func TestSlowSubscriberDoesNotStallAcks(t *testing.T) {
	ta := startAgent(t, Config{OutboundQueue: 16, WriteTimeout: 10 * time.Minute})
	sub := dialRaw(t, ta.MQTTAddr(), "stalled-dashboard", rawOpts{})
	sub.subscribe(1, packets.Subscription{Filter: "load/#", Qos: 0})
	// From here on the subscriber reads nothing until every publish is
	// acknowledged: its socket buffers fill, then its queue.
	const n = 4000
	publishFlood(t, ta, n)
	if ta.localDropped(t) == 0 {
		t.Fatalf("no drop counted for a subscriber that read nothing of %d MB", n*floodSize>>20)
	}

	// The subscriber catches up: what it gets is in order, with gaps, and
	// every message is either delivered or counted as dropped.
	last, got := -1, 0
	for {
		pk, err := sub.read(5 * time.Second)
		if err != nil {
			break // nothing more queued for it
		}
		if pk.FixedHeader.Type != packets.Publish {
			continue
		}
		seq := int(binary.BigEndian.Uint32(pk.Payload))
		if seq <= last {
			t.Fatalf("subscriber got message %d after %d", seq, last)
		}
		last = seq
		got++
	}
	if dropped := ta.localDropped(t); got == 0 || got+dropped != n {
		t.Errorf("subscriber got %d messages and %d were counted as dropped, of %d", got, dropped, n)
	}
}

// TestStalledQoS1SubscriberIsDisconnected: a QoS 1 subscriber that stops
// reading holds up the publishers it matches only until the write
// timeout: it is then disconnected (and counted), and every publish is
// acknowledged.
func TestStalledQoS1SubscriberIsDisconnected(t *testing.T) {
	// Its queue holds every message: nothing is dropped before its socket.
	ta := startAgent(t, Config{OutboundQueue: 8192, WriteTimeout: 500 * time.Millisecond})
	sub := dialRaw(t, ta.MQTTAddr(), "stalled-dashboard", rawOpts{})
	sub.subscribe(1, packets.Subscription{Filter: "load/#", Qos: 1})
	// A small receive buffer: its socket fills before mochi's inflight
	// window for it does.
	if err := sub.conn.(*net.TCPConn).SetReadBuffer(4 << 10); err != nil {
		t.Fatal(err)
	}
	publishFlood(t, ta, 4000)
	if got := metricLine(t, ta.Agent, "edgelog_agent_write_timeouts_total"); got == "edgelog_agent_write_timeouts_total 0" || got == "" {
		t.Fatalf("metric %q, want a write timeout counted", got)
	}
	waitFor(t, "the stalled subscriber to be disconnected", func() bool {
		cl, ok := ta.server.Clients.Get("stalled-dashboard")
		return !ok || cl.Closed()
	})
	if cl, ok := ta.server.Clients.Get("busy-device"); !ok || cl.Closed() {
		t.Fatal("the publisher was disconnected too")
	}
}

const floodSize = 4 << 10

// publishFlood publishes n QoS 1 messages of floodSize bytes on load/x
// (far more than socket buffers hold) from a pipelining client and waits
// for every PUBACK, in order.
func publishFlood(t *testing.T, ta *testAgent, n int) {
	t.Helper()
	pub := dialRaw(t, ta.MQTTAddr(), "busy-device", rawOpts{})
	writeErr := make(chan error, 1)
	go func() {
		var b bytes.Buffer
		payload := make([]byte, floodSize)
		for i := range n {
			binary.BigEndian.PutUint32(payload, uint32(i))
			b.Write(pub.encodePublish("load/x", payload, 1, uint16(i%60000+1), packets.Properties{}))
			if b.Len() > 256<<10 || i == n-1 {
				if _, err := pub.conn.Write(b.Bytes()); err != nil {
					writeErr <- err
					return
				}
				b.Reset()
			}
		}
		writeErr <- nil
	}()
	for i := range n {
		pub.expect(packets.Puback, uint16(i%60000+1))
	}
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
}

// localDropped reads edgelog_agent_local_dropped_total.
func (ta *testAgent) localDropped(t *testing.T) int {
	_, metrics := httpGet(t, ta.Agent, "/metrics")
	for _, l := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, "edgelog_agent_local_dropped_total "); ok {
			var n float64
			fmt.Sscan(v, &n)
			return int(n)
		}
	}
	t.Fatal("/metrics lacks edgelog_agent_local_dropped_total")
	return 0
}

// TestLocalDeliveryOrder: a pipelining publisher's messages reach a local
// subscriber in publish order, retained ones included, and a publisher
// that saw the ack of its last retained message finds it retained.
func TestLocalDeliveryOrder(t *testing.T) {
	ta := startAgent(t, Config{})
	sub := dialRaw(t, ta.MQTTAddr(), "watcher", rawOpts{version: 5})
	sub.subscribe(1, packets.Subscription{Filter: "order/#", Qos: 0})
	pub := dialRaw(t, ta.MQTTAddr(), "sensor", rawOpts{})
	const n = 500
	var b bytes.Buffer
	for i := range n {
		pk := packets.Packet{
			FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: i%50 == 7},
			ProtocolVersion: 4, TopicName: "order/a", Payload: fmt.Appendf(nil, "%d", i), PacketID: uint16(i + 1),
		}
		if err := pk.PublishEncode(&b); err != nil {
			t.Fatal(err)
		}
	}
	pub.write(b.Bytes())
	for i := range n {
		pub.expect(packets.Puback, uint16(i+1))
	}
	late := dialRaw(t, ta.MQTTAddr(), "late", rawOpts{})
	late.subscribe(1, packets.Subscription{Filter: "order/#", Qos: 0})
	// Deliveries lag acks: live messages after 457 may reach it before the
	// retained one, which must be 457.
	for {
		pk, err := late.read(waitLong)
		if err != nil {
			t.Fatalf("late subscriber: %v before the retained message", err)
		}
		if pk.FixedHeader.Retain {
			if string(pk.Payload) != "457" {
				t.Fatalf("late subscriber got retained message %q, want the last retained one, 457", pk.Payload)
			}
			break
		}
		if i, _ := strconv.Atoi(string(pk.Payload)); i <= 457 {
			t.Fatalf("late subscriber got live message %q, published before it subscribed", pk.Payload)
		}
	}
	for i := range n {
		pk, err := sub.read(waitLong)
		if err != nil {
			t.Fatalf("subscriber after %d messages: %v", i, err)
		}
		if string(pk.Payload) != fmt.Sprint(i) {
			t.Fatalf("subscriber's message %d is %q", i, pk.Payload)
		}
	}
}

// TestConnectionBufferLimits: the per-connection buffer sizes are checked
// when the agent is built.
func TestConnectionBufferLimits(t *testing.T) {
	for _, cfg := range []Config{{ReadBuffer: 100}, {ReadBuffer: 2 << 20}, {OutboundQueue: -1}, {OutboundQueue: 1 << 20}} {
		cfg.DataDir, cfg.MQTTAddr, cfg.HTTPAddr, cfg.Logger = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", quietLogger()
		if a, err := New(cfg); !errors.Is(err, ErrConfig) {
			if a != nil {
				a.server.Close()
				a.wal.Close()
			}
			t.Errorf("New with read buffer %d, outbound queue %d: %v, want ErrConfig", cfg.ReadBuffer, cfg.OutboundQueue, err)
		}
	}
}

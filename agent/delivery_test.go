package agent

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
)

// TestLocalSubscribersReceive: subscribers on the agent get committed
// publishes through wildcards, at the QoS they asked for, and retained
// messages when they subscribe later.
func TestLocalSubscribersReceive(t *testing.T) {
	ta := startAgent(t, Config{})
	got := make(chan paho.Message, 10)
	sub := pahoConnect(t, ta.MQTTAddr(), "dashboard")
	waitToken(t, sub.Subscribe("telemetry/+/temp", 2, func(_ paho.Client, m paho.Message) { got <- m }), "subscribe")
	pub := pahoConnect(t, ta.MQTTAddr(), "dev-1")
	for q := byte(0); q <= 2; q++ {
		waitToken(t, pub.Publish("telemetry/dev-1/temp", q, false, []byte{'0' + q}), "publish")
	}
	waitToken(t, pub.Publish("telemetry/dev-1/humidity", 1, false, []byte("no")), "publish")
	for q := byte(0); q <= 2; q++ {
		select {
		case m := <-got:
			if string(m.Payload()) != string([]byte{'0' + q}) || m.Qos() != q || m.Topic() != "telemetry/dev-1/temp" {
				t.Fatalf("subscriber got %q qos %d on %s, want %q qos %d", m.Payload(), m.Qos(), m.Topic(), []byte{'0' + q}, q)
			}
		case <-time.After(waitLong):
			t.Fatalf("subscriber did not receive the QoS %d publish", q)
		}
	}

	// Retained: a later subscriber gets the last retained message.
	waitToken(t, pub.Publish("status/dev-1", 1, true, []byte("online")), "publish retained")
	late := make(chan paho.Message, 1)
	sub2 := pahoConnect(t, ta.MQTTAddr(), "late")
	waitToken(t, sub2.Subscribe("status/#", 1, func(_ paho.Client, m paho.Message) { late <- m }), "subscribe")
	select {
	case m := <-late:
		if string(m.Payload()) != "online" || !m.Retained() {
			t.Fatalf("late subscriber got %q retained=%v", m.Payload(), m.Retained())
		}
	case <-time.After(waitLong):
		t.Fatal("late subscriber did not get the retained message")
	}
	select {
	case m := <-got:
		t.Fatalf("subscriber to telemetry/+/temp got %s", m.Topic())
	default:
	}
}

// TestNoLocal: an MQTT 5 client subscribed with no-local does not get its
// own publishes back (the agent re-injects under the publisher's ID), while
// another client's reach it.
func TestNoLocal(t *testing.T) {
	ta := startAgent(t, Config{})
	c := dialRaw(t, ta.MQTTAddr(), "self", rawOpts{version: 5})
	if codes := c.subscribe(1, packets.Subscription{Filter: "chat/#", Qos: 1, NoLocal: true}); len(codes) != 1 || codes[0] != 1 {
		t.Fatalf("SUBACK codes %v", codes)
	}
	c.publish("chat/room", []byte("mine"), 1, 2)
	c.expect(packets.Puback, 2)
	other := dialRaw(t, ta.MQTTAddr(), "other", rawOpts{version: 5})
	other.publish("chat/room", []byte("theirs"), 1, 3)
	other.expect(packets.Puback, 3)
	pk, err := c.read(waitLong)
	if err != nil {
		t.Fatal(err)
	}
	if pk.FixedHeader.Type != packets.Publish || string(pk.Payload) != "theirs" {
		t.Fatalf("got type %d payload %q, want the other client's publish only", pk.FixedHeader.Type, pk.Payload)
	}
}

// TestV5PropertiesAreStored: MQTT 5 content type and user properties are
// kept in the record and passed on to MQTT 5 subscribers.
func TestV5PropertiesAreStored(t *testing.T) {
	ta := startAgent(t, Config{})
	sub := dialRaw(t, ta.MQTTAddr(), "sub5", rawOpts{version: 5})
	sub.subscribe(1, packets.Subscription{Filter: "props/#", Qos: 1})
	c := dialRaw(t, ta.MQTTAddr(), "props5", rawOpts{version: 5})
	props := packets.Properties{ContentType: "application/json", User: []packets.UserProperty{{Key: "site", Val: "north"}, {Key: "site", Val: "south"}}}
	c.write(c.encodePublish("props/x", []byte(`{"a":1}`), 1, 5, props))
	c.expect(packets.Puback, 5)
	pk, err := sub.read(waitLong)
	if err != nil || pk.FixedHeader.Type != packets.Publish {
		t.Fatalf("subscriber: %v type %d", err, pk.FixedHeader.Type)
	}
	if pk.Properties.ContentType != "application/json" || len(pk.Properties.User) != 2 {
		t.Errorf("subscriber got properties %+v", pk.Properties)
	}
	ta.shutdown()
	recs := readWAL(t, ta.dir)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r.ContentType != "application/json" || len(r.UserProps) != 2 || r.UserProps[1].Value != "south" || r.ClientID != "props5" {
		t.Fatalf("record %+v", r)
	}
}

// TestWillIsStored: the will mochi publishes for a client that vanished
// without a DISCONNECT is stored like a publish and reaches subscribers.
func TestWillIsStored(t *testing.T) {
	ta := startAgent(t, Config{})
	sub := dialRaw(t, ta.MQTTAddr(), "watcher", rawOpts{version: 5})
	sub.subscribe(1, packets.Subscription{Filter: "status/#", Qos: 1})
	c := dialRaw(t, ta.MQTTAddr(), "mortal", rawOpts{willTopic: "status/mortal", willBody: "offline"})
	c.conn.Close()
	pk, err := sub.read(waitLong)
	if err != nil || string(pk.Payload) != "offline" {
		t.Fatalf("subscriber: %v %q", err, pk.Payload)
	}
	waitFor(t, "will stored", func() bool { return ta.WAL().Durable() >= 1 })
	ta.shutdown()
	recs := readWAL(t, ta.dir)
	if len(recs) != 1 || recs[0].Topic != "status/mortal" || recs[0].ClientID != "mortal" || string(recs[0].Payload) != "offline" {
		t.Fatalf("WAL = %+v, want the will", recs)
	}
}

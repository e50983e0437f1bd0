package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgelog/edgelog/internal/faultfs"
)

// TestOversizedPacketRejected: a publish over MaxPacketSize closes the
// connection without an ack and is not stored; MQTT 5 clients are told the
// limit in the CONNACK.
func TestOversizedPacketRejected(t *testing.T) {
	ta := startAgent(t, Config{MaxPacketSize: 1024})
	lost := make(chan error, 1)
	c := pahoConnect(t, ta.MQTTAddr(), "big", func(o *paho.ClientOptions) {
		o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	})
	waitToken(t, c.Publish("t/small", 1, false, bytes.Repeat([]byte("s"), 512)), "small publish")
	tok := c.Publish("t/big", 1, false, bytes.Repeat([]byte("b"), 4096))
	select {
	case <-lost:
	case <-time.After(waitLong):
		t.Fatal("connection not closed after an oversized publish")
	}
	if tok.WaitTimeout(100*time.Millisecond) && tok.Error() == nil {
		t.Fatal("oversized publish was acknowledged")
	}
	v5 := dialRaw(t, ta.MQTTAddr(), "big5", rawOpts{version: 5})
	if got := v5.connack.Properties.MaximumPacketSize; got != 1024 {
		t.Errorf("CONNACK maximum packet size %d, want 1024", got)
	}
	ta.shutdown()
	recs := readWAL(t, ta.dir)
	if len(recs) != 1 || recs[0].Topic != "t/small" {
		t.Fatalf("WAL = %d records, want only the small one", len(recs))
	}
}

// TestInvalidTopicsAndClientIDs: bad topics and client IDs are refused with
// a reason (MQTT 5) or a closed connection (3.1.1), never silently dropped
// while the client waits for an ack.
func TestInvalidTopicsAndClientIDs(t *testing.T) {
	ta := startAgent(t, Config{})
	for _, topic := range []string{"$SYS/fake", "$share/x", string(bytes.Repeat([]byte("t/"), 3000))} {
		v5 := dialRaw(t, ta.MQTTAddr(), "topic5", rawOpts{version: 5})
		v5.publish(topic, []byte("x"), 1, 1)
		pk, err := v5.read(waitLong)
		if err != nil || pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != packets.ErrTopicNameInvalid.Code {
			t.Errorf("v5 publish to %q: got type %d reason %#x err %v, want DISCONNECT 0x90", topic, pk.FixedHeader.Type, pk.ReasonCode, err)
		}
		v3 := dialRaw(t, ta.MQTTAddr(), "topic3", rawOpts{})
		v3.publish(topic, []byte("x"), 1, 1)
		if pk, err := v3.read(waitLong); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Errorf("v3 publish to %q: got type %d err %v, want the connection closed", topic, pk.FixedHeader.Type, err)
		}
	}
	for _, id := range []string{"has space", "wild+card", string(bytes.Repeat([]byte("x"), 200))} {
		v5 := dialRaw(t, ta.MQTTAddr(), id, rawOpts{version: 5})
		if v5.connack.ReasonCode != packets.ErrClientIdentifierNotValid.Code {
			t.Errorf("client ID %.20q: CONNACK %#x, want 0x85", id, v5.connack.ReasonCode)
		}
		v3 := dialRaw(t, ta.MQTTAddr(), id, rawOpts{})
		if v3.connack.ReasonCode != packets.Err3ClientIdentifierNotValid.Code {
			t.Errorf("client ID %.20q (3.1.1): CONNACK %#x, want 0x02", id, v3.connack.ReasonCode)
		}
	}
	if n := len(readWAL(t, ta.dir)); n != 0 {
		t.Fatalf("%d records stored from refused publishes", n)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

// TestPendingCap: with MaxPending publishes awaiting their commit, an MQTT
// 3.1.1 connection is not read further (and gets every ack once the disk
// catches up); an MQTT 5 client exceeding its Receive Maximum is
// disconnected with 0x93.
func TestPendingCap(t *testing.T) {
	ffs := faultfs.New()
	ta := startAgent(t, Config{FS: ffs, MaxPending: 4})
	gate := make(chan struct{})
	ffs.SetSyncHook(func(string) { <-gate })

	v5 := dialRaw(t, ta.MQTTAddr(), "greedy5", rawOpts{version: 5})
	if rm := v5.connack.Properties.ReceiveMaximum; rm != 4 {
		t.Errorf("CONNACK receive maximum %d, want 4", rm)
	}
	v3 := dialRaw(t, ta.MQTTAddr(), "patient3", rawOpts{})
	var burst5, burst3 bytes.Buffer
	for i := 1; i <= 10; i++ {
		burst5.Write(v5.encodePublish("t/cap", []byte(fmt.Sprint(i)), 1, uint16(i), packets.Properties{}))
		burst3.Write(v3.encodePublish("t/cap", []byte(fmt.Sprint(i)), 1, uint16(i), packets.Properties{}))
	}
	v5.write(burst5.Bytes())
	v3.write(burst3.Bytes())
	pk, err := v5.read(waitLong)
	if err != nil || pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != packets.ErrReceiveMaximum.Code {
		t.Fatalf("v5 over its receive maximum: type %d reason %#x err %v, want DISCONNECT 0x93", pk.FixedHeader.Type, pk.ReasonCode, err)
	}
	if pk, err := v3.read(200 * time.Millisecond); err == nil {
		t.Fatalf("v3 got packet type %d while the disk was held", pk.FixedHeader.Type)
	}
	close(gate)
	for i := 1; i <= 10; i++ {
		v3.expect(packets.Puback, uint16(i))
	}
}

// TestTopicAliases: MQTT 5 topic aliases are resolved before storing, and
// an alias the client never set closes the connection (0x94) instead of
// being stored or acknowledged.
func TestTopicAliases(t *testing.T) {
	ta := startAgent(t, Config{})
	c := dialRaw(t, ta.MQTTAddr(), "alias5", rawOpts{version: 5})
	if got := c.connack.Properties.TopicAliasMaximum; got != topicAliasMaximum {
		t.Errorf("CONNACK topic alias maximum %d, want %d", got, topicAliasMaximum)
	}
	c.write(c.encodePublish("alias/long/topic", []byte("1"), 1, 1, packets.Properties{TopicAlias: 3, TopicAliasFlag: true}))
	c.expect(packets.Puback, 1)
	c.write(c.encodePublish("", []byte("2"), 1, 2, packets.Properties{TopicAlias: 3, TopicAliasFlag: true}))
	c.expect(packets.Puback, 2)
	c.write(c.encodePublish("", []byte("3"), 1, 3, packets.Properties{TopicAlias: 4, TopicAliasFlag: true}))
	pk, err := c.read(waitLong)
	if err != nil || pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != packets.ErrTopicAliasInvalid.Code {
		t.Fatalf("unknown alias: type %d reason %#x err %v, want DISCONNECT 0x94", pk.FixedHeader.Type, pk.ReasonCode, err)
	}
	ta.shutdown()
	recs := readWAL(t, ta.dir)
	if len(recs) != 2 || recs[0].Topic != "alias/long/topic" || recs[1].Topic != "alias/long/topic" {
		t.Fatalf("WAL = %+v, want two records on alias/long/topic", recs)
	}
}

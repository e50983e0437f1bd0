package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// rawClient is a minimal MQTT 3.1.1/5 client built on mochi's packet
// codec: it writes exactly the packets a test asks for and reads back every
// packet the agent sends, so tests can check ack reason codes, ordering and
// pipelining that library clients hide.
type rawClient struct {
	t       testing.TB
	conn    net.Conn
	r       *bufio.Reader
	version byte
	connack packets.Packet
}

type rawOpts struct {
	version   byte // 4 (3.1.1, default) or 5
	password  string
	clean     bool
	persist   bool   // MQTT 5: clean start 0 and a session expiry interval
	willTopic string // with a will of payload willPayload at QoS 1 when set
	willBody  string
	// noKeepalive connects with keep-alive 0 (default 60 s).
	noKeepalive bool
}

// dialRaw connects and returns the client and the CONNACK (which may be a
// refusal).
func dialRaw(t testing.TB, addr, id string, o rawOpts) *rawClient {
	t.Helper()
	if o.version == 0 {
		o.version = 4
	}
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn), version: o.version}
	t.Cleanup(func() { conn.Close() })
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: o.version}
	pk.Connect.ProtocolName = []byte("MQTT")
	pk.Connect.ClientIdentifier = id
	pk.Connect.Keepalive = 60
	if o.noKeepalive {
		pk.Connect.Keepalive = 0
	}
	pk.Connect.Clean = o.clean || o.version == 5 && !o.persist
	if o.version == 5 && o.persist {
		pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = 3600, true
	}
	if o.willTopic != "" {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillPayload, pk.Connect.WillQos = true, o.willTopic, []byte(o.willBody), 1
	}
	if o.password != "" {
		pk.Connect.Password, pk.Connect.PasswordFlag = []byte(o.password), true
		pk.Connect.Username, pk.Connect.UsernameFlag = []byte(id), true
	}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	c.write(buf.Bytes())
	ack, err := c.read(30 * time.Second)
	if err != nil {
		t.Fatalf("reading CONNACK: %v", err)
	}
	if ack.FixedHeader.Type != packets.Connack {
		t.Fatalf("first packet is type %d, want CONNACK", ack.FixedHeader.Type)
	}
	c.connack = ack
	return c
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// encodePublish returns the bytes of one PUBLISH.
func (c *rawClient) encodePublish(topic string, payload []byte, qos byte, pid uint16, props packets.Properties) []byte {
	c.t.Helper()
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: qos},
		ProtocolVersion: c.version, TopicName: topic, Payload: payload, PacketID: pid, Properties: props,
	}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		c.t.Fatal(err)
	}
	return buf.Bytes()
}

func (c *rawClient) publish(topic string, payload []byte, qos byte, pid uint16) {
	c.t.Helper()
	c.write(c.encodePublish(topic, payload, qos, pid, packets.Properties{}))
}

// publishDup sends a PUBLISH with the DUP flag: a retransmission.
func (c *rawClient) publishDup(topic string, payload []byte, qos byte, pid uint16) {
	c.t.Helper()
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: qos, Dup: true},
		ProtocolVersion: c.version, TopicName: topic, Payload: payload, PacketID: pid,
	}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		c.t.Fatal(err)
	}
	c.write(buf.Bytes())
}

// pubrel sends the PUBREL of a QoS 2 flow.
func (c *rawClient) pubrel(pid uint16) {
	c.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, ProtocolVersion: c.version, PacketID: pid}
	var buf bytes.Buffer
	if err := pk.PubrelEncode(&buf); err != nil {
		c.t.Fatal(err)
	}
	c.write(buf.Bytes())
}

// read returns the next packet from the agent, or an error (io.EOF when
// the agent closed the connection, a timeout error after d).
func (c *rawClient) read(d time.Duration) (packets.Packet, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	var pk packets.Packet
	b, err := c.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		return pk, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	pk.ProtocolVersion = c.version
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Pubcomp:
		err = pk.PubcompDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	default:
		err = fmt.Errorf("unexpected packet type %d", pk.FixedHeader.Type)
	}
	return pk, err
}

// expect reads the next packet and checks its type and packet ID.
func (c *rawClient) expect(kind byte, pid uint16) packets.Packet {
	c.t.Helper()
	pk, err := c.read(30 * time.Second)
	if err != nil {
		c.t.Fatalf("waiting for packet type %d id %d: %v", kind, pid, err)
	}
	if pk.FixedHeader.Type != kind || pk.PacketID != pid {
		c.t.Fatalf("got packet type %d id %d reason %#x, want type %d id %d", pk.FixedHeader.Type, pk.PacketID, pk.ReasonCode, kind, pid)
	}
	return pk
}

// subscribe sends a SUBSCRIBE and waits for its SUBACK, returning the
// granted codes.
func (c *rawClient) subscribe(pid uint16, subs ...packets.Subscription) []byte {
	c.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: c.version, PacketID: pid, Filters: subs}
	var buf bytes.Buffer
	if err := pk.SubscribeEncode(&buf); err != nil {
		c.t.Fatal(err)
	}
	c.write(buf.Bytes())
	return c.expect(packets.Suback, pid).ReasonCodes
}

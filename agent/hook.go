package agent

import (
	"bytes"
	"errors"
	"fmt"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// hook is the agent's mochi hook: connection admission, topic checks and
// the publish path into the WAL.
type hook struct {
	mqtt.HookBase
	a *Agent
}

func (h *hook) ID() string { return "edgelog-agent" }

func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck,
		mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnPacketRead,
		mqtt.OnPacketEncode, mqtt.OnWillSent,
	}, []byte{b})
}

// OnConnect admits or refuses a connection, sending the CONNACK itself on
// refusal so the client gets the precise reason.
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	a := h.a
	var code packets.Code
	var why error
	switch {
	case a.closing.Load():
		code, why = packets.ErrServerUnavailable, ErrClosing
	case checkClientID(cl.ID) != nil:
		code, why = packets.ErrClientIdentifierNotValid, checkClientID(cl.ID)
	default:
		code, why = a.authenticate(cl, pk)
	}
	if code == packets.CodeSuccess {
		return nil
	}
	a.log.Warn("agent: connection refused", "client", cl.ID, "remote", cl.Net.Remote, "code", code.Code, "reason", why)
	_ = a.server.SendConnack(cl, connackCode(code, cl.Properties.ProtocolVersion), false, nil)
	return code
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// OnConnectAuthenticate accepts: OnConnect has decided already.
func (h *hook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

// OnACLCheck authorizes subscribing to a filter and receiving from a topic
// (read). Publishing (write) is authorized in the ingest path instead, so
// that a refusal is answered in order with the connection's other
// publishes.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	return write || h.a.canSubscribe(cl, topic)
}

// OnSessionEstablished sets up the connection's state (its worker starts
// with its first publish); it runs on the connection's read goroutine
// before any packet after CONNECT is read. A clean session does not forget the client's unacknowledged records: see
// doc.go on retransmissions.
func (h *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.a.connFor(cl)
}

// OnDisconnect lets the connection's worker finish what is in flight and
// exit.
func (h *hook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	a := h.a
	if errors.Is(err, packets.ErrPacketTooLarge) {
		a.reject(reasonTooLarge, cl, err, "limit", a.cfg.MaxPacketSize)
	}
	a.auth.who.Delete(cl)
	if v, ok := a.conns.LoadAndDelete(cl); ok {
		v.(*conn).close()
	}
}

// OnPacketRead is the ingest path: every client publish is checked, then
// taken (see take) before mochi handles it. A publish the agent would not
// store closes the connection with a reason (an MQTT 5 DISCONNECT naming
// it) instead of being dropped silently.
//
// The packet is handled through a pointer: this runs on the connection's
// read goroutine under mochi's deep frames, and copies of the 800-byte
// packet in the agent's frames would double that goroutine's stack (to 32
// KiB) for every connection that publishes.
func (h *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Publish {
		return pk, nil
	}
	err := h.ingest(cl, &pk)
	return pk, err
}

// ingest checks a client publish and takes it, leaving in pk what mochi
// should process.
func (h *hook) ingest(cl *mqtt.Client, pk *packets.Packet) error {
	reason, err := checkPublish(pk)
	if err == nil {
		return h.take(cl, pk)
	}
	code := packets.ErrTopicNameInvalid
	if reason == reasonProperties {
		code = packets.ErrImplementationSpecificError
	}
	return h.refuse(cl, reason, code, err)
}

// OnPacketEncode advertises the agent's limits in a successful MQTT 5
// CONNACK (mochi advertises Receive Maximum only).
func (h *hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && pk.ReasonCode == 0 && cl.Properties.ProtocolVersion == 5 {
		pk.Properties.MaximumPacketSize = uint32(h.a.cfg.MaxPacketSize)
		pk.Properties.TopicAliasMaximum = topicAliasMaximum
	}
	return pk
}

// OnWillSent stores a will mochi published for a client that went away.
// A will has no publisher waiting for an ack, so it is appended like QoS 0.
func (h *hook) OnWillSent(cl *mqtt.Client, pk packets.Packet) {
	h.a.appendWill(cl, pk)
}

// takenTopic is what a publish the agent has taken over is renamed to:
// mochi drops publishes to $SYS topics from clients at once, without an
// acknowledgement, delivery or logging.
const takenTopic = "$SYS/edgelog/taken"

// take hands a client publish to the ingest path and leaves in pk what
// mochi should process instead. The ingest path takes every publish here
// rather than in OnPublish: refusing a publish in OnPublish (packets.
// ErrRejectPacket) costs an allocation of the whole packet in mochi's
// debug logging, half of all bytes allocated per publish.
//
// The invariant: what take leaves is never a valid publish that mochi
// would acknowledge without it being stored. It is either the publish
// renamed to takenTopic (taken: the agent answers it), a publish that fails
// mochi's validation (mochi refuses it), or a QoS 2 retransmission of a
// publish already stored (mochi answers it from its inflight map).
func (h *hook) take(cl *mqtt.Client, pk *packets.Packet) error {
	a := h.a
	if pk.PublishValidate(topicAliasMaximum) != packets.CodeSuccess {
		return nil
	}
	if pk.Properties.TopicAliasFlag && pk.Properties.TopicAlias > 0 {
		pk.TopicName = cl.State.TopicAliases.Inbound.Set(pk.Properties.TopicAlias, pk.TopicName)
		if pk.TopicName == "" {
			return h.refuse(cl, reasonTopic, packets.ErrTopicAliasInvalid, fmt.Errorf("%w: unknown topic alias %d", ErrInvalidPublish, pk.Properties.TopicAlias))
		}
	}
	qos2 := pk.FixedHeader.Qos == 2
	if qos2 {
		if handled, err := h.beginQoS2(cl, pk); handled {
			return err
		}
	}
	if !a.connFor(cl).publish(pk) && qos2 {
		a.q2.end(cl.ID, pk.PacketID)
	}
	rename(pk)
	return nil
}

// beginQoS2 marks a QoS 2 publish in flight, or handles it (true) if it is
// a retransmission or exceeds the inflight window. Kept out of take's frame
// (mochi's inflight lookup copies a whole packet), which is on the stack
// while a publish is stored.
//
//go:noinline
func (h *hook) beginQoS2(cl *mqtt.Client, pk *packets.Packet) (bool, error) {
	a := h.a
	if !a.q2.begin(cl.ID, pk.PacketID) {
		// A retransmission while the first copy is being committed: that
		// copy's answer sends a PUBREC for this one too.
		rename(pk)
		return true, nil
	}
	if pki, ok := cl.State.Inflight.Get(pk.PacketID); ok && pki.FixedHeader.Type == packets.Pubrec {
		a.q2.end(cl.ID, pk.PacketID)
		return true, nil
	}
	if cl.State.Inflight.Len() >= int(a.server.Options.Capabilities.MaximumInflight) {
		a.q2.end(cl.ID, pk.PacketID)
		return true, h.refuse(cl, reasonReceiveMax, packets.ErrReceiveMaximum, fmt.Errorf("%w: %d QoS 2 exchanges unfinished", ErrInvalidPublish, cl.State.Inflight.Len()))
	}
	return false, nil
}

// rename turns pk into what mochi should see once the agent has taken it.
func rename(pk *packets.Packet) {
	pk.TopicName = takenTopic
	pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = 0, false
}

// refuse closes a connection over a bad publish (with an MQTT 5 DISCONNECT
// naming code); returning packets.ErrRejectPacket from OnPacketRead makes
// mochi drop the connection.
func (h *hook) refuse(cl *mqtt.Client, reason string, code packets.Code, err error) error {
	h.a.reject(reason, cl, err)
	if cl.Properties.ProtocolVersion == 5 {
		_ = h.a.server.DisconnectClient(cl, code)
	}
	return packets.ErrRejectPacket
}

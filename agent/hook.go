package agent

import (
	"bytes"
	"errors"
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
		mqtt.OnPacketEncode, mqtt.OnPublish, mqtt.OnWillSent,
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

// OnSessionEstablished starts the connection's ack goroutine; it runs on
// the connection's read goroutine before any packet after CONNECT is read.
func (h *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.a.connFor(cl)
}

// OnDisconnect lets the connection's ack goroutine finish what is in
// flight and exit.
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

// OnPacketRead refuses publishes the agent would not store, with a reason,
// before mochi handles them. Refusing closes the connection (after an MQTT
// 5 DISCONNECT naming the reason).
func (h *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Publish {
		return pk, nil
	}
	reason, err := checkPublish(&pk)
	if err == nil {
		return pk, nil
	}
	h.a.reject(reason, cl, err)
	if cl.Properties.ProtocolVersion == 5 {
		code := packets.ErrTopicNameInvalid
		if reason == reasonProperties {
			code = packets.ErrImplementationSpecificError
		}
		_ = h.a.server.DisconnectClient(cl, code)
	}
	return pk, packets.ErrRejectPacket
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

// OnPublish is the ingest path: the publish is appended to the WAL and
// answered by the connection's ack goroutine after its commit. It always
// returns packets.ErrRejectPacket for client publishes, so mochi neither
// acknowledges nor delivers them; the agent's own re-injection (an inline
// client) passes through.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	h.a.connFor(cl).publish(pk)
	return pk, errRejectPacket
}

// errRejectPacket is packets.ErrRejectPacket boxed once: converting the
// Code struct to an error on every publish would allocate.
var errRejectPacket error = packets.ErrRejectPacket

// OnWillSent stores a will mochi published for a client that went away.
// A will has no publisher waiting for an ack, so it is appended like QoS 0.
func (h *hook) OnWillSent(cl *mqtt.Client, pk packets.Packet) {
	h.a.appendWill(cl, pk)
}

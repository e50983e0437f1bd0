package sim

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"

	"github.com/edgelog/edgelog/devices"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// testBroker is an in-process mochi broker on 127.0.0.1:0 that records
// every publish it accepted, by (client ID, seq).
type testBroker struct {
	url string
	srv *mqtt.Server

	mu       sync.Mutex
	received map[msgKey]int      // protected by mu
	order    map[string][]uint64 // per client, seqs in arrival order; protected by mu
}

type msgKey struct {
	client string
	seq    uint64
}

// recordHook sees each publish before mochi acknowledges it.
type recordHook struct {
	mqtt.HookBase
	b *testBroker
}

func (h *recordHook) ID() string { return "record" }

func (h *recordHook) Provides(b byte) bool { return b == mqtt.OnPublish }

func (h *recordHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if hd, err := DecodeHeader(pk.Payload); err == nil {
		h.b.mu.Lock()
		h.b.received[msgKey{cl.ID, hd.Seq}]++
		h.b.order[cl.ID] = append(h.b.order[cl.ID], hd.Seq)
		h.b.mu.Unlock()
	}
	return pk, nil
}

// registryHook enforces a device registry, as an agent would.
type registryHook struct {
	mqtt.HookBase
	reg *devices.Registry
}

func (h *registryHook) ID() string { return "registry" }

func (h *registryHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

func (h *registryHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	_, err := h.reg.Authenticate(cl.ID, string(pk.Connect.Password))
	return err == nil
}

func (h *registryHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write {
		return h.reg.CanPublish(cl.ID, topic)
	}
	return h.reg.CanSubscribe(cl.ID, topic)
}

// startBroker starts mochi; with reg nil every client is allowed.
func startBroker(t *testing.T, reg *devices.Registry, maxPacket uint32) *testBroker {
	t.Helper()
	b := &testBroker{received: map[msgKey]int{}, order: map[string][]uint64{}}
	opts := &mqtt.Options{Logger: slog.New(slog.DiscardHandler)}
	opts.Capabilities = mqtt.NewDefaultServerCapabilities()
	opts.Capabilities.MaximumPacketSize = maxPacket
	b.srv = mqtt.New(opts)
	var err error
	if reg == nil {
		err = b.srv.AddHook(new(auth.AllowHook), nil)
	} else {
		err = b.srv.AddHook(&registryHook{reg: reg}, nil)
	}
	if err == nil {
		err = b.srv.AddHook(&recordHook{b: b}, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := b.srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.srv.Serve() }()
	t.Cleanup(func() { _ = b.srv.Close() })
	b.url = "tcp://" + l.Address()
	return b
}

// checkOrder asserts that each client's messages first arrived in sequence
// order (retries may repeat earlier ones, never overtake).
func (b *testBroker) checkOrder(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, seqs := range b.order {
		var high uint64
		seen := map[uint64]bool{}
		for _, s := range seqs {
			if !seen[s] && s < high {
				t.Errorf("%s: seq %d first arrived after %d", id, s, high)
				return
			}
			seen[s] = true
			high = max(high, s)
		}
	}
}

func (b *testBroker) has(k msgKey) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.received[k] > 0
}

// ackLog collects Config.OnAck calls.
type ackLog struct {
	mu   sync.Mutex
	acks map[msgKey]int // protected by mu
}

func newAckLog() *ackLog { return &ackLog{acks: map[msgKey]int{}} }

func (a *ackLog) onAck(ack Ack) {
	a.mu.Lock()
	a.acks[msgKey{ack.ClientID, ack.Seq}]++
	a.mu.Unlock()
}

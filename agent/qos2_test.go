package agent

import (
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestQoS2Flow: PUBREC after the commit, PUBCOMP for the PUBREL, and a
// retransmitted PUBLISH (before or after the PUBREC) is stored only once.
func TestQoS2Flow(t *testing.T) {
	for _, version := range []byte{4, 5} {
		ta := startAgent(t, Config{})
		c := dialRaw(t, ta.MQTTAddr(), "q2", rawOpts{version: version})
		c.publish("t/q2", []byte("once"), 2, 9)
		if rec := c.expect(packets.Pubrec, 9); rec.ReasonCode >= 0x80 {
			t.Fatalf("v%d PUBREC reason %#x", version, rec.ReasonCode)
		}
		// The same publish again, as a client that missed the PUBREC
		// would send it: answered, not stored again.
		c.publish("t/q2", []byte("once"), 2, 9)
		c.expect(packets.Pubrec, 9)
		c.pubrel(9)
		if comp := c.expect(packets.Pubcomp, 9); comp.ReasonCode != 0 {
			t.Fatalf("v%d PUBCOMP reason %#x, want success", version, comp.ReasonCode)
		}
		// The packet ID is free again: a new message with it is stored.
		c.publish("t/q2", []byte("twice"), 2, 9)
		c.expect(packets.Pubrec, 9)
		c.pubrel(9)
		c.expect(packets.Pubcomp, 9)
		ta.shutdown()
		recs := readWAL(t, ta.dir)
		if len(recs) != 2 || string(recs[0].Payload) != "once" || string(recs[1].Payload) != "twice" || recs[0].QoS != 2 {
			t.Fatalf("v%d WAL = %+v, want the two distinct QoS 2 messages once each", version, recs)
		}
	}
}

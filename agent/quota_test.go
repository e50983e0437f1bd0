package agent

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

const (
	quotaPacket = 1024
	quotaDisk   = 64 << 10
)

// TestQuotaBlock: at the quota new publishes are refused, never
// acknowledged: MQTT 5 gets 0x97, MQTT 3.1.1 is disconnected. Once the hub
// acknowledges records (SetHubAcked) the WAL front is trimmed and publishes
// are accepted again; only acknowledged publishes are in the WAL.
func TestQuotaBlock(t *testing.T) {
	ta := startAgent(t, Config{MaxDisk: quotaDisk, MaxPacketSize: quotaPacket})
	c := dialRaw(t, ta.MQTTAddr(), "filler", rawOpts{version: 5})
	payload := bytes.Repeat([]byte("q"), 500)
	acked, pid := 0, uint16(0)
	for {
		pid++
		if pid > 1000 {
			t.Fatal("1000 publishes of 500 bytes fit into a 64KiB quota")
		}
		c.publish("q/fill", payload, 1, pid)
		ack := c.expect(packets.Puback, pid)
		if ack.ReasonCode == packets.ErrQuotaExceeded.Code {
			break
		}
		if ack.ReasonCode != 0 {
			t.Fatalf("PUBACK reason %#x, want success or 0x97", ack.ReasonCode)
		}
		acked++
	}
	if size := ta.WAL().Size(); size > quotaDisk {
		t.Errorf("WAL is %d bytes, over the %d quota", size, quotaDisk)
	}
	if !ta.Status().WAL.Full {
		t.Error("status does not report the WAL full")
	}
	v3 := dialRaw(t, ta.MQTTAddr(), "filler3", rawOpts{})
	v3.publish("q/fill", payload, 1, 1)
	if pk, err := v3.read(waitLong); err == nil {
		t.Fatalf("MQTT 3.1.1 publish at the quota got packet type %d, want the connection closed", pk.FixedHeader.Type)
	}

	// The hub holds everything so far: space frees, publishes flow again.
	if err := ta.SetHubAcked(ta.WAL().Durable()); err != nil {
		t.Fatal(err)
	}
	pid++
	c.publish("q/after", payload, 1, pid)
	if ack := c.expect(packets.Puback, pid); ack.ReasonCode != 0 {
		t.Fatalf("after the hub ack: PUBACK reason %#x, want success", ack.ReasonCode)
	}
	acked++
	_, metrics := httpGet(t, ta.Agent, "/metrics")
	if !strings.Contains(metrics, `edgelog_agent_rejected_publishes_total{reason="quota"} 2`) {
		t.Errorf("quota refusals not counted:\n%s", grepLines(metrics, "rejected"))
	}
	ta.shutdown()
	recs := readWAL(t, ta.dir)
	last := recs[len(recs)-1]
	if last.Topic != "q/after" || last.Seq != uint64(acked) {
		t.Fatalf("last record %d %s, want seq %d q/after (only acknowledged publishes stored)", last.Seq, last.Topic, acked)
	}
}

// TestQuotaDropOldest: with drop-oldest every publish is accepted, the WAL
// stays near its quota by deleting the oldest records, which are counted,
// and the drop is logged once (at most once a minute).
func TestQuotaDropOldest(t *testing.T) {
	logs := &lockedBuffer{}
	ta := startAgent(t, Config{MaxDisk: quotaDisk, MaxPacketSize: quotaPacket, WhenFull: WhenFullDropOldest,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	c := dialRaw(t, ta.MQTTAddr(), "ring", rawOpts{version: 5})
	payload := bytes.Repeat([]byte("d"), 500)
	const n = 600
	for i := 1; i <= n; i++ {
		c.publish("d/ring", payload, 1, uint16(i))
		if ack := c.expect(packets.Puback, uint16(i)); ack.ReasonCode != 0 {
			t.Fatalf("publish %d refused with %#x under drop-oldest", i, ack.ReasonCode)
		}
		if size := ta.WAL().Size(); size > quotaDisk+8<<10 {
			t.Fatalf("WAL grew to %d bytes, quota %d", size, quotaDisk)
		}
	}
	st := ta.Status().WAL
	if st.DroppedRecords == 0 || uint64(st.DroppedRecords) != st.FirstSeq-1 {
		t.Fatalf("dropped %d records, first seq %d: want first-1 dropped", st.DroppedRecords, st.FirstSeq)
	}
	if got := strings.Count(logs.String(), "dropped the oldest"); got != 1 {
		t.Errorf("drop logged %d times, want once", got)
	}
	ta.shutdown()
	recs := readWAL(t, ta.dir)
	if recs[len(recs)-1].Seq != n || recs[0].Seq > st.FirstSeq {
		t.Fatalf("WAL holds %d..%d, want the newest records up to %d from at most %d", recs[0].Seq, recs[len(recs)-1].Seq, n, st.FirstSeq)
	}
}

// TestHubAckedTrimsOnlyBelow: SetHubAcked never removes a record the hub
// does not hold (invariant 3).
func TestHubAckedTrimsOnlyBelow(t *testing.T) {
	ta := startAgent(t, Config{MaxDisk: quotaDisk, MaxPacketSize: quotaPacket})
	c := dialRaw(t, ta.MQTTAddr(), "trim", rawOpts{})
	payload := bytes.Repeat([]byte("h"), 300)
	for i := 1; i <= 100; i++ {
		c.publish("h/x", payload, 1, uint16(i))
		c.expect(packets.Puback, uint16(i))
	}
	if err := ta.SetHubAcked(60); err != nil {
		t.Fatal(err)
	}
	if err := ta.SetHubAcked(30); err != nil { // stale acks change nothing
		t.Fatal(err)
	}
	if first := ta.WAL().First(); first != 61 {
		t.Fatalf("first readable seq %d after hub ack 60, want 61", first)
	}
	if st := ta.Status(); st.Hub.AckedSeq != 60 || st.Hub.LagRecords != 40 {
		t.Errorf("status hub acked %d lag %d, want 60 and 40", st.Hub.AckedSeq, st.Hub.LagRecords)
	}
	ta.shutdown()
	recs := readWAL(t, ta.dir)
	if recs[0].Seq > 61 || recs[len(recs)-1].Seq != 100 {
		t.Fatalf("WAL holds %d..%d after hub ack 60, want everything from 61", recs[0].Seq, recs[len(recs)-1].Seq)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

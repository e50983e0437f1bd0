package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// publishN publishes n QoS 1 messages of 500 bytes with packet IDs from
// pid on and checks each is acknowledged.
func publishN(t *testing.T, c *rawClient, pid, n int) {
	t.Helper()
	payload := bytes.Repeat([]byte("r"), 500)
	for i := pid; i < pid+n; i++ {
		c.publish("r/x", payload, 1, uint16(i))
		if ack := c.expect(packets.Puback, uint16(i)); ack.ReasonCode != 0 {
			t.Fatalf("publish %d refused with %#x", i, ack.ReasonCode)
		}
	}
}

// checkContiguous reads the WAL and checks it holds exactly first..last.
func checkContiguous(t *testing.T, dir string, first, last uint64) {
	t.Helper()
	recs := readWAL(t, dir)
	if len(recs) == 0 || recs[0].Seq != first || recs[len(recs)-1].Seq != last || uint64(len(recs)) != last-first+1 {
		t.Fatalf("WAL holds %d records, want exactly %d..%d", len(recs), first, last)
	}
}

// TestDropOldestStaysDroppedAfterRestart: drop-oldest deletes whole
// segments, so the records it dropped (and counted) do not come back when
// the agent restarts; the restarted agent goes on dropping from there and
// counts only what it drops itself.
func TestDropOldestStaysDroppedAfterRestart(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), MaxDisk: quotaDisk, MaxPacketSize: quotaPacket, WhenFull: WhenFullDropOldest}
	ta := startAgent(t, cfg)
	publishN(t, dialRaw(t, ta.MQTTAddr(), "ring", rawOpts{version: 5}), 1, 600)
	st := ta.Status().WAL
	if st.DroppedRecords == 0 || uint64(st.DroppedRecords) != st.FirstSeq-1 {
		t.Fatalf("dropped %d records, first seq %d: want first-1 dropped", st.DroppedRecords, st.FirstSeq)
	}
	ta.shutdown()
	checkContiguous(t, cfg.DataDir, st.FirstSeq, 600)

	ta = startAgent(t, cfg)
	if first := ta.WAL().First(); first != st.FirstSeq {
		t.Fatalf("after a restart the WAL starts at %d; drop-oldest had dropped everything below %d", first, st.FirstSeq)
	}
	publishN(t, dialRaw(t, ta.MQTTAddr(), "ring", rawOpts{version: 5}), 601, 300)
	st2 := ta.Status().WAL
	if st2.FirstSeq <= st.FirstSeq || uint64(st2.DroppedRecords) != st2.FirstSeq-st.FirstSeq {
		t.Fatalf("after the restart: first %d, dropped %d; want the records from %d to first dropped and counted", st2.FirstSeq, st2.DroppedRecords, st.FirstSeq)
	}
	ta.shutdown()
	checkContiguous(t, cfg.DataDir, st2.FirstSeq, 900)
}

// TestHubAckedSurvivesRestart: the hub's acknowledged sequence is saved
// with the WAL's epoch, so a restarted agent trims below it and reports
// the right lag before the shipper's first contact; records above it are
// all there; drop-oldest does not count records the hub holds as dropped;
// and a saved acknowledgement is ignored for a new WAL.
func TestHubAckedSurvivesRestart(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), MaxDisk: quotaDisk, MaxPacketSize: quotaPacket, WhenFull: WhenFullDropOldest}
	ta := startAgent(t, cfg)
	publishN(t, dialRaw(t, ta.MQTTAddr(), "trim", rawOpts{}), 1, 100)
	if err := ta.SetHubAcked(60); err != nil {
		t.Fatal(err)
	}
	ta.shutdown()

	ta = startAgent(t, cfg)
	if first := ta.WAL().First(); first != 61 {
		t.Fatalf("after a restart the first readable seq is %d, want 61 (the hub holds 1..60)", first)
	}
	if st := ta.Status(); st.Hub.AckedSeq != 60 || st.Hub.LagRecords != 40 {
		t.Errorf("after a restart status hub acked %d lag %d, want 60 and 40", st.Hub.AckedSeq, st.Hub.LagRecords)
	}
	// The shipper resumes from the hub's point: the same ack changes nothing.
	if err := ta.SetHubAcked(60); err != nil || ta.WAL().First() != 61 {
		t.Fatalf("repeated hub ack: first %d, err %v", ta.WAL().First(), err)
	}
	// Fill the quota: what drop-oldest deletes of 1..60 is not counted.
	publishN(t, dialRaw(t, ta.MQTTAddr(), "trim", rawOpts{}), 101, 500)
	st := ta.Status().WAL
	if st.FirstSeq <= 61 || uint64(st.DroppedRecords) != st.FirstSeq-61 {
		t.Fatalf("first %d, dropped %d: want the records from 61 to first counted, none the hub holds", st.FirstSeq, st.DroppedRecords)
	}
	ta.shutdown()
	checkContiguous(t, cfg.DataDir, st.FirstSeq, 600)

	// A new WAL (the old one removed) has a new epoch: the saved
	// acknowledgement belongs to the old one and is ignored.
	if err := os.RemoveAll(filepath.Join(cfg.DataDir, "wal")); err != nil {
		t.Fatal(err)
	}
	ta = startAgent(t, cfg)
	if st := ta.Status(); st.WAL.FirstSeq != 1 || st.Hub.AckedSeq != 0 {
		t.Fatalf("new WAL: first %d, hub acked %d; want 1 and 0", st.WAL.FirstSeq, st.Hub.AckedSeq)
	}
	publishN(t, dialRaw(t, ta.MQTTAddr(), "trim", rawOpts{}), 1, 5)
	ta.shutdown()
	checkContiguous(t, cfg.DataDir, 1, 5)
}

package agent

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgelog/edgelog/internal/faultfs"
)

// TestPahoPublishesAreStored: QoS 0, 1 and 2 publishes from a real MQTT
// 3.1.1 client are acknowledged and each becomes exactly one WAL record
// with its fields.
func TestPahoPublishesAreStored(t *testing.T) {
	ta := startAgent(t, Config{})
	c := pahoConnect(t, ta.MQTTAddr(), "dev-1")
	for q := byte(0); q <= 2; q++ {
		waitToken(t, c.Publish(fmt.Sprintf("telemetry/dev-1/q%d", q), q, q == 2, []byte{'p', '0' + q}), "publish")
	}
	// QoS 0 has no ack: wait until it is in the WAL before stopping.
	waitFor(t, "three records", func() bool { return ta.WAL().Durable() >= 3 })
	ta.shutdown()
	recs := readWAL(t, ta.dir)
	if len(recs) != 3 {
		t.Fatalf("WAL has %d records, want 3: %+v", len(recs), recs)
	}
	for i, r := range recs {
		q := byte(i)
		if r.Topic != fmt.Sprintf("telemetry/dev-1/q%d", q) || r.QoS != q || r.ClientID != "dev-1" ||
			!bytes.Equal(r.Payload, []byte{'p', '0' + q}) || r.Retain != (q == 2) || r.Seq != uint64(i+1) {
			t.Errorf("record %d = %+v", i, r)
		}
		if d := time.Since(time.UnixMilli(r.TimeMs)); d < 0 || d > time.Hour {
			t.Errorf("record %d receive time %v is off", i, time.UnixMilli(r.TimeMs))
		}
	}
}

// TestPipelinedPublishesShareFsyncs: one client with many QoS 1 publishes
// in flight gets every PUBACK, in order, with far fewer fsyncs than
// publishes (group commit), while every ack still waits for its fsync.
func TestPipelinedPublishesShareFsyncs(t *testing.T) {
	ffs := faultfs.New()
	ta := startAgent(t, Config{FS: ffs})
	ffs.SetSyncFault(20*time.Millisecond, nil)
	c := dialRaw(t, ta.MQTTAddr(), "pipeline", rawOpts{})
	const n = 500
	var burst bytes.Buffer
	for i := 1; i <= n; i++ {
		burst.Write(c.encodePublish("t/pipe", []byte(fmt.Sprint(i)), 1, uint16(i), packets.Properties{}))
	}
	before := ta.WAL().Stats().Fsyncs
	c.write(burst.Bytes())
	for i := 1; i <= n; i++ {
		c.expect(packets.Puback, uint16(i))
	}
	fsyncs := ta.WAL().Stats().Fsyncs - before
	if fsyncs > n/5 {
		t.Errorf("%d publishes took %d fsyncs; group commit should share them", n, fsyncs)
	}
	if d := ta.WAL().Durable(); d < n {
		t.Errorf("acks for %d publishes but only %d durable", n, d)
	}
}

// TestNoAckBeforeFsyncReturns holds the WAL's fsync and checks that no
// PUBACK leaves, and no local subscriber gets the publish, while it is
// held, and that both happen once it returns.
func TestNoAckBeforeFsyncReturns(t *testing.T) {
	ffs := faultfs.New()
	ta := startAgent(t, Config{FS: ffs})
	sub := dialRaw(t, ta.MQTTAddr(), "watcher", rawOpts{})
	sub.subscribe(1, packets.Subscription{Filter: "t/#"})
	c := dialRaw(t, ta.MQTTAddr(), "slow-disk", rawOpts{})
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	var released atomic.Bool
	ffs.SetSyncHook(func(string) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-gate
	})
	c.publish("t/slow", []byte("x"), 1, 7)
	select {
	case <-entered:
	case <-time.After(waitLong):
		t.Fatal("the publish never reached fsync")
	}
	if pk, err := c.read(300 * time.Millisecond); err == nil {
		t.Fatalf("got packet type %d while the fsync was still running", pk.FixedHeader.Type)
	}
	if pk, err := sub.read(100 * time.Millisecond); err == nil {
		t.Fatalf("subscriber got packet type %d while the fsync was still running", pk.FixedHeader.Type)
	}
	released.Store(true)
	close(gate)
	c.expect(packets.Puback, 7)
	if !released.Load() {
		t.Fatal("PUBACK before fsync returned")
	}
	if pk := sub.expect(packets.Publish, 0); string(pk.Payload) != "x" {
		t.Fatalf("subscriber got %q", pk.Payload)
	}
}

// TestFailedFsyncNeverAcks: when fsync fails, an MQTT 3.1.1 client gets no
// PUBACK and is disconnected; an MQTT 5 client gets a 0x80 reason code;
// the agent reports itself not ready; local subscribers get nothing.
func TestFailedFsyncNeverAcks(t *testing.T) {
	ffs := faultfs.New()
	ta := startAgent(t, Config{FS: ffs})
	sub := dialRaw(t, ta.MQTTAddr(), "watcher", rawOpts{})
	sub.subscribe(1, packets.Subscription{Filter: "t/#"})
	v3 := dialRaw(t, ta.MQTTAddr(), "v3", rawOpts{})
	v5 := dialRaw(t, ta.MQTTAddr(), "v5", rawOpts{version: 5})
	ffs.SetSyncFault(0, faultfs.ErrInjected)
	v3.publish("t/fail", []byte("lost"), 1, 1)
	if pk, err := v3.read(waitLong); err == nil {
		t.Fatalf("MQTT 3.1.1 client got packet type %d (reason %#x) after a failed fsync; want the connection closed", pk.FixedHeader.Type, pk.ReasonCode)
	}
	v5.publish("t/fail", []byte("lost"), 1, 2)
	ack := v5.expect(packets.Puback, 2)
	if ack.ReasonCode != packets.ErrUnspecifiedError.Code {
		t.Fatalf("MQTT 5 PUBACK reason %#x, want 0x80", ack.ReasonCode)
	}
	v5.publish("t/fail", []byte("lost"), 2, 3)
	if rec := v5.expect(packets.Pubrec, 3); rec.ReasonCode < 0x80 {
		t.Fatalf("MQTT 5 PUBREC reason %#x after failure, want an error code", rec.ReasonCode)
	}
	if code, _ := httpGet(t, ta.Agent, "/readyz"); code != 503 {
		t.Errorf("/readyz = %d after a WAL failure, want 503", code)
	}
	if pk, err := sub.read(100 * time.Millisecond); err == nil {
		t.Errorf("a local subscriber got packet type %d (%q) of publishes that were not stored", pk.FixedHeader.Type, pk.Payload)
	}
}

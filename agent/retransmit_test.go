package agent

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgelog/edgelog/internal/faultfs"
)

// syncGate holds the WAL's segment fsyncs while armed, so that a test can
// act between a publish's write and its commit.
type syncGate struct {
	mu      sync.Mutex
	held    chan struct{} // mu: closed to release; nil when not armed
	entered chan struct{}
}

func newSyncGate(t testing.TB, ffs *faultfs.FS) *syncGate {
	g := &syncGate{entered: make(chan struct{}, 1)}
	ffs.SetSyncHook(func(name string) {
		if !strings.HasSuffix(name, ".seg") {
			return
		}
		g.mu.Lock()
		h := g.held
		g.mu.Unlock()
		if h == nil {
			return
		}
		select {
		case g.entered <- struct{}{}:
		default:
		}
		<-h
	})
	t.Cleanup(g.release)
	return g
}

func (g *syncGate) arm() {
	g.mu.Lock()
	g.held = make(chan struct{})
	g.mu.Unlock()
}

// waitEntered waits until a commit is held in its fsync.
func (g *syncGate) waitEntered(t testing.TB) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(waitLong):
		t.Fatal("no commit reached its fsync")
	}
}

func (g *syncGate) release() {
	g.mu.Lock()
	if g.held != nil {
		close(g.held)
		g.held = nil
	}
	g.mu.Unlock()
}

// cutMidCommit publishes (qos, pid, payload) on c while the commit is held,
// closes the connection, waits until the agent has seen it go, and then
// (unless hold) lets the commit complete: the record is stored, its ack can
// no longer be written.
func cutMidCommit(t *testing.T, ta *testAgent, g *syncGate, c *rawClient, id string, qos byte, pid uint16, payload string, hold bool) {
	t.Helper()
	old, _ := ta.server.Clients.Get(id)
	g.arm()
	c.publish("t/retx", []byte(payload), qos, pid)
	g.waitEntered(t)
	c.conn.Close()
	waitFor(t, "the agent to see the connection go", old.Closed)
	if !hold {
		g.release()
		waitFor(t, "the stored publish to be answered", func() bool { return ta.pendingTotal() == 0 })
	}
}

func metricLine(t *testing.T, a *Agent, name string) string {
	t.Helper()
	_, body := httpGet(t, a, "/metrics")
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	return ""
}

func payloads(recs []walRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Payload)
	}
	return out
}

// TestRetransmissionOfUnackedPublishIsStoredOnce: a QoS 1 publish is stored
// but its connection is cut before the PUBACK; the client reconnects with
// its session and retransmits it (DUP) — after the commit, or while it is
// still being committed. It gets its PUBACK (only once the record is
// durable) and the record is stored once. The same packet ID and content
// sent again after that PUBACK is a new publication and is stored. A client
// that reconnects with a clean session and still retransmits (as paho does
// with publishes in flight at a connection loss) is treated the same.
func TestRetransmissionOfUnackedPublishIsStoredOnce(t *testing.T) {
	for _, version := range []byte{4, 5} {
		for _, c := range []struct {
			name         string
			duringCommit bool
			clean        bool
		}{{"after-commit", false, false}, {"during-commit", true, false}, {"clean-session", false, true}} {
			t.Run(fmt.Sprintf("v%d/%s", version, c.name), func(t *testing.T) {
				ffs := faultfs.New()
				ta := startAgent(t, Config{FS: ffs})
				g := newSyncGate(t, ffs)
				const id = "dev-retx"
				c1 := dialRaw(t, ta.MQTTAddr(), id, rawOpts{version: version, persist: true})
				c1.publish("t/retx", []byte("m1"), 1, 1)
				c1.expect(packets.Puback, 1)
				cutMidCommit(t, ta, g, c1, id, 1, 2, "m2", c.duringCommit)

				c2 := dialRaw(t, ta.MQTTAddr(), id, rawOpts{version: version, persist: !c.clean, clean: c.clean})
				c2.publishDup("t/retx", []byte("m2"), 1, 2)
				if c.duringCommit {
					if pk, err := c2.read(300 * time.Millisecond); err == nil {
						t.Fatalf("packet type %d before the original's commit completed", pk.FixedHeader.Type)
					}
					g.release()
				}
				if ack := c2.expect(packets.Puback, 2); ack.ReasonCode != 0 {
					t.Fatalf("PUBACK reason %#x", ack.ReasonCode)
				}
				// After the PUBACK, the same packet ID is a new publication.
				c2.publishDup("t/retx", []byte("m2"), 1, 2)
				c2.expect(packets.Puback, 2)
				want := []string{"m1", "m2", "m2"}
				dups := "edgelog_agent_duplicate_publishes_total 1"
				if got := metricLine(t, ta.Agent, "edgelog_agent_duplicate_publishes_total"); got != dups {
					t.Errorf("metric %q, want %q", got, dups)
				}
				ta.shutdown()
				if got := payloads(readWAL(t, ta.dir)); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("WAL holds %q, want %q", got, want)
				}
			})
		}
	}
}

// TestRetransmissionDiffersIsStored: a DUP publish whose content differs
// from the unacknowledged record with its packet ID is not that record's
// retransmission: it is stored, and acknowledged after its own commit.
func TestRetransmissionDiffersIsStored(t *testing.T) {
	ffs := faultfs.New()
	ta := startAgent(t, Config{FS: ffs})
	g := newSyncGate(t, ffs)
	c1 := dialRaw(t, ta.MQTTAddr(), "dev-d", rawOpts{})
	cutMidCommit(t, ta, g, c1, "dev-d", 1, 3, "first", false)
	c2 := dialRaw(t, ta.MQTTAddr(), "dev-d", rawOpts{})
	c2.publishDup("t/retx", []byte("second"), 1, 3)
	c2.expect(packets.Puback, 3)
	c2.publishDup("t/other", []byte("first"), 1, 3)
	c2.expect(packets.Puback, 3)
	ta.shutdown()
	if got := payloads(readWAL(t, ta.dir)); fmt.Sprint(got) != "[first second first]" {
		t.Fatalf("WAL holds %q", got)
	}
}

// TestRetransmissionAfterRestartIsStoredOnce: records stored but not
// acknowledged before the agent stopped are recognised by the next agent
// (from the WAL's tail) when their clients retransmit them: QoS 1 from an
// MQTT 3.1.1 session, QoS 2 from an MQTT 5 one, whose PUBREL then completes.
func TestRetransmissionAfterRestartIsStoredOnce(t *testing.T) {
	dir := t.TempDir()
	ffs := faultfs.New()
	ta := startAgent(t, Config{DataDir: dir, FS: ffs})
	g := newSyncGate(t, ffs)
	a := dialRaw(t, ta.MQTTAddr(), "dev-a", rawOpts{})
	cutMidCommit(t, ta, g, a, "dev-a", 1, 5, "a1", false)
	b := dialRaw(t, ta.MQTTAddr(), "dev-b", rawOpts{version: 5, persist: true})
	cutMidCommit(t, ta, g, b, "dev-b", 2, 6, "b1", false)
	ta.shutdown()

	ta = startAgent(t, Config{DataDir: dir})
	a = dialRaw(t, ta.MQTTAddr(), "dev-a", rawOpts{})
	a.publishDup("t/retx", []byte("a1"), 1, 5)
	a.expect(packets.Puback, 5)
	b = dialRaw(t, ta.MQTTAddr(), "dev-b", rawOpts{version: 5, persist: true})
	b.publishDup("t/retx", []byte("b1"), 2, 6)
	if rec := b.expect(packets.Pubrec, 6); rec.ReasonCode != 0 {
		t.Fatalf("PUBREC reason %#x", rec.ReasonCode)
	}
	b.pubrel(6)
	b.expect(packets.Pubcomp, 6)
	if got := metricLine(t, ta.Agent, "edgelog_agent_duplicate_publishes_total"); got != "edgelog_agent_duplicate_publishes_total 2" {
		t.Errorf("metric %q, want 2 duplicates", got)
	}
	ta.shutdown()
	if got := payloads(readWAL(t, dir)); fmt.Sprint(got) != "[a1 b1]" {
		t.Fatalf("WAL holds %q, want a1 and b1 once each", got)
	}
}

// TestRetransmissionOfSyncedRecordAfterRestartIsStoredOnce: a record the
// hub already holds may still await its client's ack when the agent stops;
// the saved hub position trims the restarted agent's log, yet the client's
// retransmission is recognised and not stored (nor shipped) again.
func TestRetransmissionOfSyncedRecordAfterRestartIsStoredOnce(t *testing.T) {
	dir := t.TempDir()
	ffs := faultfs.New()
	ta := startAgent(t, Config{DataDir: dir, FS: ffs})
	g := newSyncGate(t, ffs)
	a := dialRaw(t, ta.MQTTAddr(), "dev-a", rawOpts{})
	cutMidCommit(t, ta, g, a, "dev-a", 1, 5, "a1", false)
	if err := ta.SetHubAcked(ta.WAL().Next() - 1); err != nil {
		t.Fatal(err)
	}
	ta.shutdown()

	ta = startAgent(t, Config{DataDir: dir})
	if st := ta.Status(); st.Hub.LagRecords != 0 {
		t.Fatalf("restarted agent reports %d records the hub lacks, want 0", st.Hub.LagRecords)
	}
	a = dialRaw(t, ta.MQTTAddr(), "dev-a", rawOpts{})
	a.publishDup("t/retx", []byte("a1"), 1, 5)
	a.expect(packets.Puback, 5)
	if got := metricLine(t, ta.Agent, "edgelog_agent_duplicate_publishes_total"); got != "edgelog_agent_duplicate_publishes_total 1" {
		t.Errorf("metric %q, want 1 duplicate", got)
	}
	ta.shutdown()
	if got := payloads(readWAL(t, dir)); fmt.Sprint(got) != "[a1]" {
		t.Fatalf("WAL holds %q, want a1 once", got)
	}
}

// TestPahoPersistentSessionRetransmitsOnce: a paho client with a persistent
// session and a file store loses its connection while a publish is being
// committed; it reconnects on its own and resends the publish with DUP. The
// agent acknowledges it (paho's store empties) and stores it once.
func TestPahoPersistentSessionRetransmitsOnce(t *testing.T) {
	ffs := faultfs.New()
	ta := startAgent(t, Config{FS: ffs})
	g := newSyncGate(t, ffs)
	store := paho.NewFileStore(t.TempDir())
	const id = "paho-retx"
	c := pahoConnect(t, ta.MQTTAddr(), id, func(o *paho.ClientOptions) {
		o.SetCleanSession(false).SetStore(store).SetAutoReconnect(true).SetMaxReconnectInterval(time.Second)
	})
	waitToken(t, c.Publish("t/paho", 1, false, "before"), "publish before")
	old, _ := ta.server.Clients.Get(id)
	g.arm()
	c.Publish("t/paho", 1, false, "lost-ack")
	g.waitEntered(t)
	// The connection breaks (paho reads EOF) while the publish is committed.
	old.Stop(errors.New("test: connection cut"))
	g.release()
	waitFor(t, "paho to get the PUBACK of its retransmission", func() bool {
		cur, ok := ta.server.Clients.Get(id)
		return ok && cur != old && !cur.Closed() && !hasOutbound(store)
	})
	waitToken(t, c.Publish("t/paho", 1, false, "after"), "publish after")
	if got := metricLine(t, ta.Agent, "edgelog_agent_duplicate_publishes_total"); got != "edgelog_agent_duplicate_publishes_total 1" {
		t.Errorf("metric %q, want 1 duplicate", got)
	}
	ta.shutdown()
	if got := payloads(readWAL(t, ta.dir)); fmt.Sprint(got) != "[before lost-ack after]" {
		t.Fatalf("WAL holds %q", got)
	}
}

// hasOutbound reports whether paho's store holds an unacknowledged publish.
func hasOutbound(s *paho.FileStore) bool {
	for _, k := range s.All() {
		if strings.HasPrefix(k, "o.") {
			return true
		}
	}
	return false
}

// TestRetransmissionOnSameConnection: an MQTT 3.1.1 client that resends a
// publish (DUP) on the same connection while the first copy is still
// being committed gets a PUBACK for each, both after the commit, and the
// publish is stored once.
func TestRetransmissionOnSameConnection(t *testing.T) {
	ffs := faultfs.New()
	ta := startAgent(t, Config{FS: ffs})
	g := newSyncGate(t, ffs)
	c := dialRaw(t, ta.MQTTAddr(), "dev-same", rawOpts{})
	g.arm()
	c.publish("t/retx", []byte("once"), 1, 4)
	g.waitEntered(t)
	c.publishDup("t/retx", []byte("once"), 1, 4)
	if pk, err := c.read(300 * time.Millisecond); err == nil {
		t.Fatalf("packet type %d before the commit completed", pk.FixedHeader.Type)
	}
	g.release()
	c.expect(packets.Puback, 4)
	c.expect(packets.Puback, 4)
	ta.shutdown()
	if got := payloads(readWAL(t, ta.dir)); fmt.Sprint(got) != "[once]" {
		t.Fatalf("WAL holds %q", got)
	}
}

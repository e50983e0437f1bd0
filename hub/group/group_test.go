package group

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
)

func newTestCoordinator(t *testing.T) (*Coordinator, *hub.Broker) {
	t.Helper()
	b, err := hub.Open(hub.Config{Dir: t.TempDir(), Partitions: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	c := New(b, Config{MinSessionTimeout: 10 * time.Millisecond})
	t.Cleanup(c.Close)
	return c, b
}

func joinReq(member string, protocols ...string) JoinRequest {
	r := JoinRequest{Group: "g", MemberID: member, ClientID: "c", ProtocolType: "consumer",
		SessionTimeout: 500 * time.Millisecond, RebalanceTimeout: 2 * time.Second}
	for _, p := range protocols {
		r.Protocols = append(r.Protocols, Protocol{Name: p, Metadata: []byte(p)})
	}
	return r
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestJoinSyncTwoMembers(t *testing.T) {
	c, _ := newTestCoordinator(t)
	// v4+ join: the first attempt hands out a member ID.
	r := c.Join(ctx(t), JoinRequest{Group: "g", ClientID: "c", ProtocolType: "consumer", SessionTimeout: time.Second,
		Protocols: []Protocol{{Name: "range"}}, RequireKnownMemberID: true})
	if !errors.Is(r.Err, ErrMemberIDRequired) || r.MemberID == "" {
		t.Fatalf("first join: %+v", r)
	}
	if r2 := c.Join(ctx(t), joinReq("made-up", "range")); !errors.Is(r2.Err, ErrUnknownMember) {
		t.Fatalf("join with an unknown member ID: %v", r2.Err)
	}
	a := c.Join(ctx(t), joinReq(r.MemberID, "cooperative-sticky", "range"))
	if a.Err != nil || a.Leader != a.MemberID || a.Generation != 1 || a.Protocol != "cooperative-sticky" || len(a.Members) != 1 {
		t.Fatalf("leader join: %+v", a)
	}
	if _, err := c.Sync(ctx(t), SyncRequest{Group: "g", MemberID: a.MemberID, Generation: 1, Assignments: map[string][]byte{a.MemberID: []byte("all")}}); err != nil {
		t.Fatal(err)
	}
	// A second member joins: the first learns of the rebalance by
	// heartbeat and rejoins; both get generation 2, and the protocol both
	// support.
	done := make(chan JoinResult, 1)
	go func() { done <- c.Join(ctx(t), joinReq("", "range")) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := c.Heartbeat("g", a.MemberID, 1); errors.Is(err, ErrRebalanceInProgress) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no rebalance signalled")
		}
		time.Sleep(5 * time.Millisecond)
	}
	a2 := c.Join(ctx(t), joinReq(a.MemberID, "cooperative-sticky", "range"))
	b2 := <-done
	if a2.Err != nil || b2.Err != nil || a2.Generation != 2 || b2.Generation != 2 || a2.Protocol != "range" || a2.Leader != a.MemberID || len(a2.Members) != 2 || len(b2.Members) != 0 {
		t.Fatalf("rebalance: leader %+v follower %+v", a2, b2)
	}
	// The follower's sync waits for the leader's.
	follower := make(chan SyncResult, 1)
	go func() {
		res, err := c.Sync(ctx(t), SyncRequest{Group: "g", MemberID: b2.MemberID, Generation: 2})
		if err != nil {
			t.Error(err)
		}
		follower <- res
	}()
	time.Sleep(20 * time.Millisecond)
	if _, err := c.Sync(ctx(t), SyncRequest{Group: "g", MemberID: a.MemberID, Generation: 2,
		Assignments: map[string][]byte{a.MemberID: []byte("p0"), b2.MemberID: []byte("p1")}}); err != nil {
		t.Fatal(err)
	}
	if res := <-follower; string(res.Assignment) != "p1" {
		t.Fatalf("follower assignment %q", res.Assignment)
	}
	if info := c.Describe("g"); info.State != Stable || len(info.Members) != 2 || info.Generation != 2 {
		t.Fatalf("describe: %+v", info)
	}
	if err := c.Heartbeat("g", a.MemberID, 1); !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("heartbeat of an old generation: %v", err)
	}
}

func TestSessionExpiryAndLeave(t *testing.T) {
	c, b := newTestCoordinator(t)
	if _, _, err := b.EnsureTopic(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	a := c.Join(ctx(t), joinReq("", "range"))
	if _, err := c.Sync(ctx(t), SyncRequest{Group: "g", MemberID: a.MemberID, Generation: a.Generation}); err != nil {
		t.Fatal(err)
	}
	offs := map[hub.TopicPartition]hub.CommittedOffset{{Topic: "t", Partition: 0}: {Offset: 5}}
	if err := c.CommitOffsets(ctx(t), "g", "", -1, offs); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("standalone commit to a group with members: %v", err)
	}
	if err := c.CommitOffsets(ctx(t), "g", a.MemberID, a.Generation, offs); err != nil {
		t.Fatal(err)
	}
	// No heartbeats: the member expires and the group empties.
	deadline := time.Now().Add(10 * time.Second)
	for c.Describe("g").State != Empty {
		if time.Now().After(deadline) {
			t.Fatalf("member never expired: %+v", c.Describe("g"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Heartbeat("g", a.MemberID, a.Generation); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("heartbeat after expiry: %v", err)
	}
	if err := c.CommitOffsets(ctx(t), "g", "", -1, offs); err != nil {
		t.Fatalf("standalone commit to an empty group: %v", err)
	}
	// Leave: a member that leaves makes the group empty at once.
	m := c.Join(ctx(t), joinReq("", "range"))
	if errs := c.Leave("g", []string{m.MemberID, "nobody"}); errs[0] != nil || !errors.Is(errs[1], ErrUnknownMember) {
		t.Fatalf("leave: %v", errs)
	}
	if st := c.Describe("g").State; st != Empty {
		t.Fatalf("after leave: %s", st)
	}
	if got := c.List(); len(got) != 1 || got[0].ID != "g" {
		t.Fatalf("list: %+v", got)
	}
}

func TestJoinRefusesBadRequests(t *testing.T) {
	c, _ := newTestCoordinator(t)
	c.Join(ctx(t), joinReq("", "range"))
	for name, tc := range map[string]struct {
		req  JoinRequest
		want error
	}{
		"no common protocol": {joinReq("", "roundrobin"), ErrInconsistentProtocol},
		"other type":         {func() JoinRequest { r := joinReq("", "range"); r.ProtocolType = "connect"; return r }(), ErrInconsistentProtocol},
		"session too short":  {func() JoinRequest { r := joinReq("", "range"); r.SessionTimeout = time.Millisecond; return r }(), ErrInvalidSessionTimeout},
		"bad group":          {func() JoinRequest { r := joinReq("", "range"); r.Group = ""; return r }(), hub.ErrInvalidGroup},
	} {
		if r := c.Join(ctx(t), tc.req); !errors.Is(r.Err, tc.want) {
			t.Errorf("%s: %v, want %v", name, r.Err, tc.want)
		}
	}
}

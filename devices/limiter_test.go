package devices

import (
	"fmt"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock               { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }
func failN(l *LoginLimiter, n int, id, addr string) {
	for range n {
		l.Fail(id, addr)
	}
}

func TestLimiterLocksClientIDWithBackoff(t *testing.T) {
	c := newClock()
	l := NewLoginLimiter(LimiterConfig{PerClient: 3, PerAddr: 100, Base: time.Second, Max: 4 * time.Second, Now: c.now})
	failN(l, 3, "dev", "10.0.0.1:5000")
	if !l.Allow("dev", "10.0.0.1:5001") {
		t.Fatal("locked before the free failures were used up")
	}
	l.Fail("dev", "10.0.0.1:5000")
	if l.Allow("dev", "10.0.0.2:1") {
		t.Fatal("client ID not locked after 4 failures")
	}
	if !l.Allow("other", "10.0.0.1:1") {
		t.Fatal("another ID from the same address was locked")
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	for i, w := range want {
		if got := l.RetryAfter("dev", ""); got != w {
			t.Errorf("lockout %d = %v, want %v", i, got, w)
		}
		c.add(w)
		if !l.Allow("dev", "") {
			t.Errorf("still locked after %v", w)
		}
		l.Fail("dev", "10.0.0.1:5000")
	}
	l.Succeed("dev", "10.0.0.1:5000")
	if !l.Allow("dev", "") || l.RetryAfter("dev", "") != 0 {
		t.Error("success did not clear the client ID")
	}
}

func TestLimiterLocksAddress(t *testing.T) {
	c := newClock()
	l := NewLoginLimiter(LimiterConfig{PerClient: 100, PerAddr: 5, Now: c.now})
	for i := range 6 {
		l.Fail(fmt.Sprintf("spray-%d", i), "192.0.2.7:40000")
	}
	if l.Allow("fresh-id", "192.0.2.7:40001") {
		t.Error("address not locked after spraying client IDs")
	}
	if !l.Allow("fresh-id", "192.0.2.8:1") {
		t.Error("unrelated address locked")
	}
	// A device that logged in from that address before keeps reconnecting.
	l2 := NewLoginLimiter(LimiterConfig{PerAddr: 5, Now: c.now})
	l2.Succeed("known", "192.0.2.7:1234")
	for i := range 6 {
		l2.Fail(fmt.Sprintf("spray-%d", i), "192.0.2.7:40000")
	}
	if !l2.Allow("known", "192.0.2.7:999") {
		t.Error("address lockout stopped a device that logged in from there before")
	}
	if l2.Allow("new", "192.0.2.7:999") {
		t.Error("address lockout did not stop a new ID")
	}
	// IPv6 counts per /64: rotating the interface ID does not help.
	for i := range 6 {
		l.Fail("x", fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1))
	}
	if l.Allow("y", "[2001:db8:1:2:ffff::1]:9") {
		t.Error("IPv6 /64 not locked")
	}
	if !l.Allow("y", "[2001:db8:1:3::1]:9") {
		t.Error("neighbouring /64 locked")
	}
}

func TestLimiterForgetsAndIsBounded(t *testing.T) {
	c := newClock()
	l := NewLoginLimiter(LimiterConfig{PerClient: 2, PerAddr: 1000, Forget: time.Minute, MaxEntries: 50, Now: c.now})
	failN(l, 2, "dev", "h")
	c.add(2 * time.Minute)
	l.Fail("dev", "h") // the old failures were forgotten: this is failure 1
	if !l.Allow("dev", "h") {
		t.Error("old failures not forgotten")
	}
	for i := range 1000 {
		l.Fail(fmt.Sprintf("id-%d", i), fmt.Sprintf("10.1.%d.%d:1", i/256, i%256))
	}
	if n := l.Len(); n > 50 {
		t.Errorf("tracks %d keys, bound is 50", n)
	}
	for i := range 1000 {
		l.Succeed(fmt.Sprintf("id-%d", i), "10.9.9.9:1")
	}
	if n := l.goodLRU.Len(); n > 50 || len(l.good) != n {
		t.Errorf("tracks %d trusted pairs, bound is 50", n)
	}
}

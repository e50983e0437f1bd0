package devices

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"time"
)

// LimiterConfig tunes a LoginLimiter. The zero value means the defaults.
type LimiterConfig struct {
	// PerClient failed logins of one client ID are free; after that each
	// further failure locks the ID out for Base, 2×Base, 4×Base … up to Max.
	// 0 means 5.
	PerClient int
	// PerAddr is the same for a remote address (IPv6 addresses count per
	// /64). It is higher because many devices may share a NAT. 0 means 20.
	PerAddr int
	// Base is the first lockout; 0 means 1s.
	Base time.Duration
	// Max caps a lockout; 0 means 5m.
	Max time.Duration
	// Forget: failures older than this (with no lockout running) are
	// forgotten; 0 means 15m.
	Forget time.Duration
	// MaxEntries bounds memory: the least recently failed keys are dropped
	// beyond it. 0 means 10000 (about 1 MB).
	MaxEntries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *LimiterConfig) validate() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.PerClient, 5)
	def(&c.PerAddr, 20)
	def(&c.MaxEntries, 10000)
	if c.Base <= 0 {
		c.Base = time.Second
	}
	if c.Max <= 0 {
		c.Max = 5 * time.Minute
	}
	if c.Max < c.Base {
		c.Max = c.Base
	}
	if c.Forget <= 0 {
		c.Forget = 15 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// LoginLimiter rate-limits failed logins per client ID and per remote
// address with exponential lockouts. The auth hook calls Allow before
// checking credentials (refusing without checking when it is false), then
// Fail or Succeed with the outcome. Safe for concurrent use; memory is
// bounded by 2×MaxEntries.
//
// An address lockout does not stop a client ID that logged in successfully
// from that address within Forget: devices behind the same NAT as an
// attacker keep reconnecting, while new IDs from that address wait.
type LoginLimiter struct {
	cfg LimiterConfig

	mu      sync.Mutex
	entries map[string]*list.Element // key → element of lru; protected by mu
	lru     *list.List               // of *limitEntry, most recently failed first; protected by mu
	good    map[string]*list.Element // "id\x00addr" → element of goodLRU; protected by mu
	goodLRU *list.List               // of *goodEntry, most recent success first; protected by mu
}

type goodEntry struct {
	key  string
	when time.Time
}

type limitEntry struct {
	key         string
	failures    int
	last        time.Time
	lockedUntil time.Time
}

// NewLoginLimiter returns a limiter with cfg (zero value: defaults).
func NewLoginLimiter(cfg LimiterConfig) *LoginLimiter {
	cfg.validate()
	return &LoginLimiter{cfg: cfg, entries: map[string]*list.Element{}, lru: list.New(),
		good: map[string]*list.Element{}, goodLRU: list.New()}
}

func clientKey(id string) string { return "c\x00" + id }

// addrKey reduces "host:port" to the host; IPv6 hosts to their /64.
func addrKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if ip.Is6() {
			if p, err := ip.Prefix(64); err == nil {
				return "a\x00" + p.String()
			}
		}
		return "a\x00" + ip.String()
	}
	return "a\x00" + host
}

// Allow reports whether a login by clientID from remoteAddr may be checked
// now. It is false while either is locked out.
func (l *LoginLimiter) Allow(clientID, remoteAddr string) bool {
	return l.RetryAfter(clientID, remoteAddr) == 0
}

// RetryAfter is how long until Allow would be true (0: allowed now).
func (l *LoginLimiter) RetryAfter(clientID, remoteAddr string) time.Duration {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	wait := l.lockedFor(clientKey(clientID), now)
	if d := l.lockedFor(addrKey(remoteAddr), now); d > wait && !l.trusted(clientID, remoteAddr, now) {
		wait = d
	}
	return wait
}

// lockedFor is the lockout left on key. Caller holds mu.
func (l *LoginLimiter) lockedFor(key string, now time.Time) time.Duration {
	if el, ok := l.entries[key]; ok {
		if d := el.Value.(*limitEntry).lockedUntil.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func pairKey(clientID, remoteAddr string) string { return clientID + "\x00" + addrKey(remoteAddr) }

// trusted reports whether clientID logged in from remoteAddr within Forget.
// Caller holds mu.
func (l *LoginLimiter) trusted(clientID, remoteAddr string, now time.Time) bool {
	el, ok := l.good[pairKey(clientID, remoteAddr)]
	return ok && now.Sub(el.Value.(*goodEntry).when) <= l.cfg.Forget
}

// Fail records a failed login (bad password, unknown ID, disabled device).
func (l *LoginLimiter) Fail(clientID, remoteAddr string) {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fail(clientKey(clientID), l.cfg.PerClient, now)
	l.fail(addrKey(remoteAddr), l.cfg.PerAddr, now)
}

// Succeed records a successful login: the client ID's failures are
// forgotten and the (client ID, address) pair is trusted for Forget. The
// address keeps its count (one good device behind a NAT does not vouch for
// the others); it decays after Forget.
func (l *LoginLimiter) Succeed(clientID, remoteAddr string) {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.entries[clientKey(clientID)]; ok {
		l.lru.Remove(el)
		delete(l.entries, clientKey(clientID))
	}
	k := pairKey(clientID, remoteAddr)
	if el, ok := l.good[k]; ok {
		el.Value.(*goodEntry).when = now
		l.goodLRU.MoveToFront(el)
		return
	}
	for l.goodLRU.Len() >= l.cfg.MaxEntries {
		old := l.goodLRU.Remove(l.goodLRU.Back()).(*goodEntry)
		delete(l.good, old.key)
	}
	l.good[k] = l.goodLRU.PushFront(&goodEntry{key: k, when: now})
}

// Len is the number of keys with failures tracked (for metrics).
func (l *LoginLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// fail counts one failure for key; free failures pass, then lockouts double.
// Caller holds mu.
func (l *LoginLimiter) fail(key string, free int, now time.Time) {
	el, ok := l.entries[key]
	if !ok {
		for l.lru.Len() >= l.cfg.MaxEntries {
			old := l.lru.Remove(l.lru.Back()).(*limitEntry)
			delete(l.entries, old.key)
		}
		el = l.lru.PushFront(&limitEntry{key: key})
		l.entries[key] = el
	} else {
		l.lru.MoveToFront(el)
	}
	e := el.Value.(*limitEntry)
	if now.Sub(e.last) > l.cfg.Forget && !now.Before(e.lockedUntil) {
		e.failures = 0
	}
	e.failures++
	e.last = now
	if over := e.failures - free; over > 0 {
		d := l.cfg.Base
		for i := 1; i < over && d < l.cfg.Max; i++ {
			d *= 2
		}
		e.lockedUntil = now.Add(min(d, l.cfg.Max))
	}
}

package devices

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// DefaultCost is the bcrypt cost HashPassword uses when given 0. Cost 10
// takes tens of milliseconds on a gateway-class CPU; the verified-password
// cache below keeps reconnect storms from paying it again.
const DefaultCost = bcrypt.DefaultCost

// MaxPasswordBytes is bcrypt's input limit; longer passwords are refused
// rather than silently truncated.
const MaxPasswordBytes = 72

// HashPassword returns the bcrypt hash of password to store in a registry.
// cost 0 means DefaultCost.
func HashPassword(password string, cost int) (string, error) {
	if password == "" {
		return "", errors.New("devices: empty password")
	}
	if len(password) > MaxPasswordBytes {
		return "", fmt.Errorf("devices: password longer than %d bytes", MaxPasswordBytes)
	}
	if cost == 0 {
		cost = DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("devices: hash password: %w", err)
	}
	return string(h), nil
}

// checkHash accepts only bcrypt hashes ($2a$, $2b$, $2y$), so a plain
// password pasted into the file is an error, not a credential.
func checkHash(h string) error {
	if !strings.HasPrefix(h, "$2") {
		return errors.New("not a bcrypt hash (plain passwords are not accepted; set one with `edgelog devices passwd`)")
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return fmt.Errorf("not a valid bcrypt hash: %v", err)
	}
	return nil
}

// Authenticate checks a password login by clientID. It returns the device
// on success and otherwise an error matching exactly one of
// ErrUnknownDevice, ErrDisabled, ErrCertRequired or ErrBadPassword. A device
// registered with a certificate fingerprint cannot log in through
// Authenticate (ErrCertRequired): use AuthenticateTLS on TLS listeners.
func (r *Registry) Authenticate(clientID, password string) (Device, error) {
	return r.AuthenticateTLS(clientID, password, nil)
}

// AuthenticateTLS checks a login on a TLS listener. peerCerts is the
// client's certificate chain as presented (tls.ConnectionState's
// PeerCertificates; nil on plain TCP). Every factor the device is registered
// with must pass: a cert-sha256 must equal the SHA-256 of the leaf
// certificate's DER bytes, and a password-hash must match the password.
// Chain verification is the listener's TLS configuration's business.
func (r *Registry) AuthenticateTLS(clientID, password string, peerCerts []*x509.Certificate) (Device, error) {
	e, ok := r.devices[clientID]
	if !ok {
		r.auth.burn(password)
		return Device{}, ErrUnknownDevice
	}
	d := e.dev
	if !d.Enabled {
		return Device{}, ErrDisabled
	}
	if d.CertSHA256 != "" {
		if len(peerCerts) == 0 || peerCerts[0] == nil {
			return Device{}, ErrCertRequired
		}
		sum := sha256.Sum256(peerCerts[0].Raw)
		if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(d.CertSHA256)) != 1 {
			return Device{}, ErrBadCert
		}
	}
	if d.PasswordHash != "" && !r.auth.verify(clientID, d.PasswordHash, password) {
		return Device{}, ErrBadPassword
	}
	return d.clone(), nil
}

// authCache remembers, per device, a keyed MAC of the last password that
// bcrypt verified, so a reconnecting device is checked in microseconds. The
// MAC key is random per process and never leaves memory; an entry is valid
// only for the exact hash it was verified against, so a passwd or a reload
// with a new hash invalidates it. Size: at most one entry per device of the
// registries that shared the cache.
type authCache struct {
	key       [32]byte
	dummyOnce sync.Once
	dummy     []byte // a hash to burn time on for unknown devices

	mu      sync.Mutex
	entries map[string]cacheEntry // by client ID; protected by mu
}

type cacheEntry struct {
	hash string
	mac  [sha256.Size]byte
}

func newAuthCache() *authCache {
	c := &authCache{entries: map[string]cacheEntry{}}
	if _, err := rand.Read(c.key[:]); err != nil {
		panic("devices: no randomness: " + err.Error()) // crypto/rand never fails on supported platforms
	}
	return c
}

func (c *authCache) mac(clientID, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(clientID))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

func (c *authCache) verify(clientID, hash, password string) bool {
	if password == "" || len(password) > MaxPasswordBytes {
		return false
	}
	mac := c.mac(clientID, password)
	c.mu.Lock()
	e, ok := c.entries[clientID]
	c.mu.Unlock()
	if ok && e.hash == hash && hmac.Equal(e.mac[:], mac[:]) {
		return true
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return false
	}
	c.mu.Lock()
	c.entries[clientID] = cacheEntry{hash: hash, mac: mac}
	c.mu.Unlock()
	return true
}

// burn spends about one bcrypt comparison so an unknown ID takes as long to
// refuse as a wrong password.
func (c *authCache) burn(password string) {
	c.dummyOnce.Do(func() {
		c.dummy, _ = bcrypt.GenerateFromPassword([]byte("edgelog-unknown-device"), DefaultCost)
	})
	if len(password) > MaxPasswordBytes {
		password = password[:MaxPasswordBytes]
	}
	_ = bcrypt.CompareHashAndPassword(c.dummy, []byte(password))
}

// inherit copies into r's cache the entries of prev whose device still has
// the same password hash, so a reload does not force every device back
// through bcrypt. It adopts prev's MAC key (the copied MACs were made with
// it) and must run before r is shared with other goroutines.
func (r *Registry) inherit(prev *Registry) {
	if prev == nil || prev.auth == nil {
		return
	}
	prev.auth.mu.Lock()
	defer prev.auth.mu.Unlock()
	r.auth.mu.Lock()
	defer r.auth.mu.Unlock()
	r.auth.key = prev.auth.key
	for id, ce := range prev.auth.entries {
		if e, ok := r.devices[id]; ok && e.dev.PasswordHash == ce.hash {
			r.auth.entries[id] = ce
		}
	}
}

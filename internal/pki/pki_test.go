package pki

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{CACertFile: 0o644, CAKeyFile: 0o600, HubCertFile: 0o644, HubKeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, "tls", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	b, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.CertPEM(), b.CertPEM()) || !a.hub.Leaf.Equal(b.hub.Leaf) {
		t.Fatal("second load made a new CA or hub certificate")
	}
	ca, _ := os.ReadFile(filepath.Join(dir, "tls", CACertFile))
	if !bytes.Equal(ca, a.CertPEM()) {
		t.Fatal("ca.pem differs from the CA in use")
	}
}

func TestLoadOrCreateConcurrent(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	certs := make([][]byte, 8)
	for i := range certs {
		wg.Go(func() {
			a, err := LoadOrCreate(dir)
			if err != nil {
				t.Error(err)
				return
			}
			certs[i] = a.CertPEM()
		})
	}
	wg.Wait()
	for _, c := range certs[1:] {
		if !bytes.Equal(c, certs[0]) {
			t.Fatal("concurrent creation produced two CAs")
		}
	}
}

func TestLoadOrCreateMismatchedFiles(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	if _, err := LoadOrCreate(d1); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(d2); err != nil {
		t.Fatal(err)
	}
	other, _ := os.ReadFile(filepath.Join(d2, "tls", CAKeyFile))
	if err := os.WriteFile(filepath.Join(d1, "tls", CAKeyFile), other, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(d1); !errors.Is(err, ErrBadFiles) {
		t.Fatalf("CA key from another CA: %v, want ErrBadFiles", err)
	}
	if err := os.WriteFile(filepath.Join(d1, "tls", CAKeyFile), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(d1); !errors.Is(err, ErrBadFiles) {
		t.Fatalf("junk key: %v, want ErrBadFiles", err)
	}
}

func TestMintAndLoadBundle(t *testing.T) {
	a, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := a.MintAgent("gw-17", 0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gw-17.pem")
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := LoadBundle(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.AgentID != "gw-17" || !b.CA.Equal(a.Cert) {
		t.Fatalf("bundle for %q", b.AgentID)
	}
	for _, bad := range []string{"", "a\nb", strings.Repeat("x", 257), "\xff"} {
		if _, err := a.MintAgent(bad, 0); !errors.Is(err, ErrBadAgentID) {
			t.Errorf("MintAgent(%q): %v", bad, err)
		}
	}
}

func TestParseBundleRefuses(t *testing.T) {
	a, _ := LoadOrCreate(t.TempDir())
	other, _ := LoadOrCreate(t.TempDir())
	good, _ := a.MintAgent("gw", 0)
	blocks := splitPEM(good)
	foreign, _ := other.MintAgent("gw", 0)
	fb := splitPEM(foreign)
	expired, _ := a.MintAgent("gw", time.Nanosecond)
	time.Sleep(time.Millisecond)
	cases := map[string][]byte{
		"empty":                  nil,
		"no key":                 cat(blocks[0], blocks[2]),
		"no CA":                  cat(blocks[0], blocks[1]),
		"no certificate":         cat(blocks[1], blocks[2]),
		"key of another agent":   cat(blocks[0], fb[1], blocks[2]),
		"signed by another CA":   cat(fb[0], fb[1], blocks[2]),
		"two agent certificates": cat(blocks[0], blocks[0], blocks[1], blocks[2]),
		"garbage certificate":    []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
	}
	for name, b := range cases {
		if _, err := ParseBundle(b); !errors.Is(err, ErrBadBundle) {
			t.Errorf("%s: %v, want ErrBadBundle", name, err)
		}
	}
	// Expiry is checked at load (the hub checks it again at every handshake).
	if _, err := ParseBundle(expired); err == nil {
		// Validity starts an hour in the past to allow for clock skew, so a
		// nanosecond of validity ends before it begins: refused.
		t.Error("expired bundle accepted")
	}
	if _, err := ParseBundle(cat(blocks[2], blocks[1], blocks[0])); err != nil {
		t.Errorf("blocks in another order: %v", err)
	}
}

// splitPEM returns each PEM block of b as its own text.
func splitPEM(b []byte) [][]byte {
	var blocks [][]byte
	s := string(b)
	for {
		i := strings.Index(s, "-----BEGIN ")
		if i < 0 {
			break
		}
		j := strings.Index(s[i:], "-----END ")
		k := strings.Index(s[i+j:], "-----\n")
		end := i + j + k + len("-----\n")
		blocks = append(blocks, []byte(s[i:end]))
		s = s[end:]
	}
	return blocks
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// handshake runs a real TLS handshake over a loopback TCP connection and
// returns the client's and the server's errors.
func handshake(t *testing.T, server, client *tls.Config) (Identity, error, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		id  Identity
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := tls.Server(c, server)
		err = tc.Handshake()
		if err == nil {
			// TLS 1.3 client certificates are checked after the client's
			// handshake returns; read to see the outcome.
			_, _ = tc.Write([]byte("x"))
		}
		id, _ := PeerIdentity(tc.ConnectionState())
		done <- result{id, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := tls.Client(c, client)
	cerr := tc.Handshake()
	if cerr == nil {
		_, cerr = tc.Read(make([]byte, 1))
	}
	r := <-done
	return r.id, cerr, r.err
}

func TestTLSAuthentication(t *testing.T) {
	a, _ := LoadOrCreate(t.TempDir())
	other, _ := LoadOrCreate(t.TempDir())
	mint := func(ca *Authority, id string) *Bundle {
		b, err := ca.MintAgent(id, 0)
		if err != nil {
			t.Fatal(err)
		}
		bundle, err := ParseBundle(b)
		if err != nil {
			t.Fatal(err)
		}
		return bundle
	}
	good := mint(a, "gw-1")
	id, cerr, serr := handshake(t, a.ServerTLS(), good.ClientTLS())
	if cerr != nil || serr != nil || id.AgentID != "gw-1" || id.Serial != good.Cert.Leaf.SerialNumber.Text(16) {
		t.Fatalf("good credentials: client %v, server %v, identity %+v", cerr, serr, id)
	}

	noCert := good.ClientTLS()
	noCert.Certificates = nil
	if _, _, serr := handshake(t, a.ServerTLS(), noCert); serr == nil {
		t.Fatal("client without a certificate accepted")
	}
	if _, _, serr := handshake(t, a.ServerTLS(), mint(other, "gw-1").ClientTLS()); serr == nil {
		t.Fatal("certificate from another CA accepted")
	}
	// The agent refuses a hub whose certificate is not from its CA.
	if _, cerr, _ := handshake(t, other.ServerTLS(), good.ClientTLS()); cerr == nil {
		t.Fatal("agent accepted a hub from another CA")
	}
}

func TestDenyList(t *testing.T) {
	var d DenyList
	if d.Denied(Identity{AgentID: "a"}) {
		t.Fatal("zero list denies")
	}
	changes := 0
	d.OnChange(func() { changes++ })
	if err := d.Set([]string{"gw-2", "serial:00AbC1"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		id   Identity
		want bool
	}{
		{Identity{AgentID: "gw-2"}, true},
		{Identity{AgentID: "gw-3"}, false},
		{Identity{AgentID: "gw-3", Serial: "abc1"}, true},
		{Identity{AgentID: "gw-3", Serial: "abc2"}, false},
	}
	for _, c := range cases {
		if d.Denied(c.id) != c.want {
			t.Errorf("Denied(%+v) = %v", c.id, !c.want)
		}
	}
	if changes != 1 || len(d.Entries()) != 2 {
		t.Fatalf("changes %d entries %v", changes, d.Entries())
	}
	for _, bad := range []string{"serial:xyz", "serial:", "bad\x01id"} {
		if err := d.Set([]string{bad}); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
	if !d.Denied(Identity{AgentID: "gw-2"}) {
		t.Fatal("a rejected Set changed the list")
	}
	got := ParseDenyFile([]byte("# revoked\n gw-1 \n\ngw-2 # stolen\nserial:ff\n"))
	if strings.Join(got, ",") != "gw-1,gw-2,serial:ff" {
		t.Fatalf("ParseDenyFile: %q", got)
	}
}

func TestDenyListWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "denied.txt")
	var d DenyList
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Watch(ctx, path, 10*time.Millisecond, nil) }()
	waitFor(t, func() bool { return d.set.Load() != nil })
	if d.Denied(Identity{AgentID: "gw-1"}) {
		t.Fatal("missing file denies")
	}
	if err := os.WriteFile(path, []byte("gw-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return d.Denied(Identity{AgentID: "gw-1"}) })
	if err := os.WriteFile(path, []byte("serial:zz-not-hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if !d.Denied(Identity{AgentID: "gw-1"}) {
		t.Fatal("a bad file replaced the list")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !d.Denied(Identity{AgentID: "gw-1"}) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

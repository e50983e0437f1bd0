package devices

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// testPassword's hash, at bcrypt's minimum cost to keep tests fast.
const testPassword = "s3cret-pass"

var hashOnce = sync.OnceValues(func() (string, error) { return HashPassword(testPassword, bcrypt.MinCost) })

func testHash(t testing.TB) string {
	t.Helper()
	h, err := hashOnce()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mustParse(t testing.TB, s string) *Registry {
	t.Helper()
	r, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, s)
	}
	return r
}

func TestParseGood(t *testing.T) {
	h := testHash(t)
	r := mustParse(t, `# fleet
devices:
  - id: pump-1
    password-hash: `+h+`
    cert-sha256: "AA:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99"
    publish:
      - telemetry/{id}/#
    subscribe: commands/{id}/#
    enabled: false
    labels: {model: p200, site: north}
  - id: "ünïcode device"
    password-hash: `+h+`
`)
	if r.Len() != 2 {
		t.Fatalf("Len = %d", r.Len())
	}
	d, ok := r.Lookup("pump-1")
	if !ok {
		t.Fatal("pump-1 missing")
	}
	if d.Enabled || d.Line != 3 || d.Labels["site"] != "north" || d.Subscribe[0] != "commands/{id}/#" {
		t.Errorf("pump-1 = %+v", d)
	}
	if d.CertSHA256 != "aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899" {
		t.Errorf("fingerprint not normalized: %q", d.CertSHA256)
	}
	if d2, _ := r.Lookup("ünïcode device"); !d2.Enabled || d2.Publish != nil {
		t.Errorf("defaults: %+v", d2)
	}
	if ds := r.Devices(); ds[0].ID != "pump-1" || ds[1].ID != "ünïcode device" {
		t.Errorf("order: %v", ds)
	}
	for _, empty := range []string{"", "# nothing\n", "devices:\n", "devices: []\n"} {
		if r := mustParse(t, empty); r.Len() != 0 {
			t.Errorf("%q: Len = %d", empty, r.Len())
		}
	}
}

func TestParseErrors(t *testing.T) {
	h := testHash(t)
	cases := []struct {
		name, body string
		line       int
		key, msg   string
	}{
		{"unknown top key", "devices: []\nversion: 2\n", 2, "version", "unknown key"},
		{"unknown device key", "devices:\n  - id: a\n    password-hash: " + h + "\n    publsh: [x]\n", 4, "publsh", "unknown key"},
		{"duplicate id", "devices:\n  - id: a\n    password-hash: " + h + "\n  - id: b\n    password-hash: " + h + "\n  - id: a\n    password-hash: " + h + "\n", 6, "id", "duplicate device \"a\" (first on line 2)"},
		{"hash not bcrypt", "devices:\n  - id: a\n    password-hash: hunter2\n", 3, "password-hash", "plain passwords are not accepted"},
		{"bad bcrypt", "devices:\n  - id: a\n    password-hash: $2a$99$xx\n", 3, "password-hash", "not a valid bcrypt hash"},
		{"no credential", "devices:\n  - id: a\n    publish: [x]\n", 2, "password-hash", "neither"},
		{"missing id", "devices:\n  - password-hash: " + h + "\n", 2, "id", "missing"},
		{"bad id", "devices:\n  - id: a/b\n    password-hash: " + h + "\n", 2, "id", "'/'"},
		{"hash in filter middle", "devices:\n  - id: a\n    password-hash: " + h + "\n    publish:\n      - ok/#\n      - a/#/b\n", 6, "publish", "'#' must be the last level"},
		{"plus in level", "devices:\n  - id: a\n    password-hash: " + h + "\n    subscribe: [a/b+]\n", 4, "subscribe", "whole level"},
		{"placeholder typo", "devices:\n  - id: a\n    password-hash: " + h + "\n    publish: [\"t/{ID}/#\"]\n", 4, "publish", "{ID}"},
		{"bad fingerprint", "devices:\n  - id: a\n    cert-sha256: abc\n", 3, "cert-sha256", "64 hex"},
		{"enabled not bool", "devices:\n  - id: a\n    password-hash: " + h + "\n    enabled: maybe\n", 4, "enabled", "true or false"},
		{"labels nested", "devices:\n  - id: a\n    password-hash: " + h + "\n    labels: {a: {b: c}}\n", 4, "labels", "strings"},
		{"key twice", "devices:\n  - id: a\n    id: b\n", 3, "id", "given twice"},
		{"not a mapping", "- a\n", 1, "", "want a mapping"},
		{"devices not list", "devices: {a: b}\n", 1, "devices", "list"},
		{"device not mapping", "devices:\n  - just-a-string\n", 2, "devices", "mapping"},
		{"alias", "devices:\n  - &d {id: a, password-hash: " + h + "}\n  - *d\n", 3, "", "aliases"},
		{"yaml syntax", "devices:\n  - id: [a\n", -1, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.body))
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("want *ParseError wrapping ErrInvalid, got %v", err)
			}
			if (tc.line >= 0 && pe.Line != tc.line) || (tc.line < 0 && pe.Line <= 0) || pe.Key != tc.key || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got line %d key %q: %v; want line %d key %q containing %q", pe.Line, pe.Key, err, tc.line, tc.key, tc.msg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestParseBounds(t *testing.T) {
	big := make([]byte, MaxFileBytes+1)
	if _, err := Parse(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized bytes: %v", err)
	}
	p := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(p, big, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized file: %v", err)
	}
	var b strings.Builder
	b.WriteString("devices:\n  - id: a\n    password-hash: " + testHash(t) + "\n    publish:\n")
	for i := 0; i <= MaxFilters; i++ {
		fmt.Fprintf(&b, "      - t/%d\n", i)
	}
	if _, err := Parse([]byte(b.String())); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "at most") {
		t.Errorf("too many filters: %v", err)
	}
}

func TestLoadErrorNamesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "reg.yaml")
	if err := os.WriteFile(p, []byte("devices:\n  - id: a\n    colour: red\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+":3: colour: unknown key") {
		t.Errorf("got %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	h := testHash(t)
	leaf := selfSigned(t)
	sum := sha256.Sum256(leaf.Raw)
	other := selfSigned(t)
	r := mustParse(t, fmt.Sprintf(`devices:
  - {id: pw, password-hash: %[1]q}
  - {id: off, password-hash: %[1]q, enabled: false}
  - {id: cert, cert-sha256: %[2]s}
  - {id: both, cert-sha256: %[2]s, password-hash: %[1]q}
`, h, hex.EncodeToString(sum[:])))
	cases := []struct {
		id, pw string
		certs  []*x509.Certificate
		want   error
	}{
		{"pw", testPassword, nil, nil},
		{"pw", testPassword, nil, nil}, // second time from the cache
		{"pw", "wrong", nil, ErrBadPassword},
		{"pw", "", nil, ErrBadPassword},
		{"pw", strings.Repeat("x", 100), nil, ErrBadPassword},
		{"nobody", testPassword, nil, ErrUnknownDevice},
		{"off", testPassword, nil, ErrDisabled},
		{"cert", "", nil, ErrCertRequired},
		{"cert", "", []*x509.Certificate{leaf}, nil},
		{"cert", "", []*x509.Certificate{other}, ErrBadCert},
		{"both", testPassword, []*x509.Certificate{leaf}, nil},
		{"both", "wrong", []*x509.Certificate{leaf}, ErrBadPassword},
		{"both", testPassword, nil, ErrCertRequired},
	}
	for _, tc := range cases {
		d, err := r.AuthenticateTLS(tc.id, tc.pw, tc.certs)
		if !errors.Is(err, tc.want) {
			t.Errorf("AuthenticateTLS(%q, %q, %d certs) = %v, want %v", tc.id, tc.pw, len(tc.certs), err, tc.want)
		}
		if err == nil && d.ID != tc.id {
			t.Errorf("returned device %q", d.ID)
		}
	}
	if _, err := r.Authenticate("cert", ""); !errors.Is(err, ErrCertRequired) {
		t.Errorf("cert device over plain Authenticate: %v", err)
	}
}

// TestAuthCacheFollowsHash: a password verified once stays valid only while
// the device's hash is unchanged, also across a reload.
func TestAuthCacheFollowsHash(t *testing.T) {
	h := testHash(t)
	h2, err := HashPassword("new-pass", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	r1 := mustParse(t, fmt.Sprintf("devices:\n  - {id: a, password-hash: %q}\n", h))
	if _, err := r1.Authenticate("a", testPassword); err != nil {
		t.Fatal(err)
	}
	r2 := mustParse(t, fmt.Sprintf("devices:\n  - {id: a, password-hash: %q}\n", h2))
	r2.inherit(r1)
	if _, err := r2.Authenticate("a", testPassword); !errors.Is(err, ErrBadPassword) {
		t.Errorf("old password after passwd: %v", err)
	}
	if _, err := r2.Authenticate("a", "new-pass"); err != nil {
		t.Errorf("new password: %v", err)
	}
	r3 := mustParse(t, fmt.Sprintf("devices:\n  - {id: a, password-hash: %q}\n", h2))
	r3.inherit(r2)
	if len(r3.auth.entries) != 1 {
		t.Errorf("cache not inherited: %d entries", len(r3.auth.entries))
	}
	if _, err := r3.Authenticate("a", "new-pass"); err != nil {
		t.Errorf("inherited cache: %v", err)
	}
}

func selfSigned(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "dev"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("devices:\n  - id: a\n    password-hash: $2a$04$abcdefghijklmnopqrstuu5Yq0ZpO2b1rj0ePNqSxWj6Ua8w4V8i.\n    publish: [\"t/{id}/#\"]\n"))
	f.Add([]byte("devices:\n  - {id: b, cert-sha256: " + strings.Repeat("ab", 32) + ", subscribe: [\"+/#\"], labels: {x: y}}\n"))
	f.Add([]byte("devices: [&a {id: x}, *a]"))
	f.Add([]byte("- [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unclassified error: %v", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		for _, d := range r.Devices() {
			if ValidateID(d.ID) != nil || (!d.HasPassword() && d.CertSHA256 == "") {
				t.Fatalf("accepted bad device %+v", d)
			}
			for _, f := range append(d.Publish, d.Subscribe...) {
				if ValidateACLFilter(f) != nil {
					t.Fatalf("accepted bad filter %q", f)
				}
			}
			r.CanPublish(d.ID, "a/b")
			r.CanSubscribe(d.ID, "a/#")
		}
	})
}

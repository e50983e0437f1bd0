package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// testTLS returns a server config with a fresh self-signed certificate for
// 127.0.0.1 and a client config trusting it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hub"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12},
		&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// tryProduce produces one record and reports the error; a client that is
// refused keeps retrying, so failure is its giving up after wait.
func tryProduce(t *testing.T, addr string, wait time.Duration, opts ...kgo.Opt) error {
	t.Helper()
	cl := newClient(t, addr, append(opts, kgo.RetryTimeout(wait), kgo.RequestRetries(1))...)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: "secure", Value: []byte("x")}).FirstErr()
}

func TestSASLOverTLS(t *testing.T) {
	srvTLS, cliTLS := testTLS(t)
	users := map[string]string{"reader": "s3cret"}
	h := startHub(t, "", "", hub.Config{}, Config{TLS: srvTLS, Users: users})
	plainAuth := func(user, pass string) sasl.Mechanism {
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	}
	scramAuth := func(user, pass string) sasl.Mechanism {
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	}
	for name, tc := range map[string]struct {
		opts []kgo.Opt
		ok   bool
	}{
		"PLAIN":                   {[]kgo.Opt{kgo.DialTLSConfig(cliTLS), kgo.SASL(plainAuth("reader", "s3cret"))}, true},
		"SCRAM-SHA-256":           {[]kgo.Opt{kgo.DialTLSConfig(cliTLS), kgo.SASL(scramAuth("reader", "s3cret"))}, true},
		"PLAIN wrong password":    {[]kgo.Opt{kgo.DialTLSConfig(cliTLS), kgo.SASL(plainAuth("reader", "nope"))}, false},
		"SCRAM wrong password":    {[]kgo.Opt{kgo.DialTLSConfig(cliTLS), kgo.SASL(scramAuth("reader", "nope"))}, false},
		"SCRAM unknown user":      {[]kgo.Opt{kgo.DialTLSConfig(cliTLS), kgo.SASL(scramAuth("who", "s3cret"))}, false},
		"no SASL":                 {[]kgo.Opt{kgo.DialTLSConfig(cliTLS)}, false},
		"no TLS":                  {[]kgo.Opt{kgo.SASL(plainAuth("reader", "s3cret"))}, false},
		"SCRAM-SHA-512 (unknown)": {[]kgo.Opt{kgo.DialTLSConfig(cliTLS), kgo.SASL(scram.Auth{User: "reader", Pass: "s3cret"}.AsSha512Mechanism())}, false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wait := 3 * time.Second
			if tc.ok {
				wait = 30 * time.Second
			}
			err := tryProduce(t, h.addr, wait, tc.opts...)
			if tc.ok && err != nil {
				t.Fatalf("produce: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("produce succeeded without valid credentials")
			}
		})
	}
}

// TestPlainNeedsTLS: on a plaintext listener only SCRAM is offered, so a
// password never crosses the network in the clear.
func TestPlainNeedsTLS(t *testing.T) {
	h := startHub(t, "", "", hub.Config{}, Config{Users: map[string]string{"u": "p"}})
	if err := tryProduce(t, h.addr, 3*time.Second, kgo.SASL(plain.Auth{User: "u", Pass: "p"}.AsMechanism())); err == nil {
		t.Fatal("PLAIN accepted on a plaintext listener")
	}
	if err := tryProduce(t, h.addr, 30*time.Second, kgo.SASL(scram.Auth{User: "u", Pass: "p"}.AsSha256Mechanism())); err != nil {
		t.Fatalf("SCRAM on a plaintext listener: %v", err)
	}
}

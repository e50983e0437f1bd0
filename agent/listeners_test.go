package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgelog/edgelog/devices"
)

// selfSigned returns a certificate for 127.0.0.1 (usable by a server or a
// client) and its parsed leaf.
func selfSigned(t *testing.T, cn string) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestTLSAndWebSocketListeners: the optional listeners accept MQTT, and on
// TLS a device registered with a certificate pin is admitted only with
// that client certificate.
func TestTLSAndWebSocketListeners(t *testing.T) {
	serverCert, serverLeaf := selfSigned(t, "agent")
	clientCert, clientLeaf := selfSigned(t, "pinned")
	sum := sha256.Sum256(clientLeaf.Raw)
	h := testHash(t, "pinned")
	path := filepath.Join(t.TempDir(), "devices.yaml")
	body := fmt.Sprintf("devices:\n  - id: pinned\n    password-hash: %s\n    cert-sha256: %s\n    publish: [\"telemetry/{id}/#\"]\n", h, hex.EncodeToString(sum[:]))
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, err := devices.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	wsAddr := freeAddr(t)
	ta := startAgent(t, Config{
		TLSAddr: "127.0.0.1:0", WSAddr: wsAddr, Devices: reg,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequestClientCert},
	})
	roots := x509.NewCertPool()
	roots.AddCert(serverLeaf)
	creds := func(o *paho.ClientOptions) { o.SetUsername("pinned").SetPassword("pw-pinned") }

	withCert := pahoConnectURL(t, "ssl://"+ta.TLSAddr(), "pinned", creds, func(o *paho.ClientOptions) {
		o.SetTLSConfig(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}})
	})
	waitToken(t, withCert.Publish("telemetry/pinned/tls", 1, false, "over tls"), "TLS publish")
	withCert.Disconnect(100)

	noCert := paho.NewClient(paho.NewClientOptions().AddBroker("ssl://" + ta.TLSAddr()).SetClientID("pinned").
		SetUsername("pinned").SetPassword("pw-pinned").SetTLSConfig(&tls.Config{RootCAs: roots}).SetConnectRetry(false))
	if tok := noCert.Connect(); tok.WaitTimeout(waitLong) && tok.Error() == nil {
		t.Fatal("a pinned device connected without its client certificate")
	}
	// Over plain TCP or WebSocket there is no certificate: refused too.
	ws := paho.NewClient(paho.NewClientOptions().AddBroker("ws://" + wsAddr + "/").SetClientID("pinned").
		SetUsername("pinned").SetPassword("pw-pinned").SetConnectRetry(false))
	tok := ws.Connect()
	if !tok.WaitTimeout(waitLong) || tok.Error() == nil {
		t.Fatal("a pinned device connected over WebSocket without a certificate")
	}
	ta.shutdown()
	recs := readWAL(t, ta.dir)
	if len(recs) != 1 || string(recs[0].Payload) != "over tls" {
		t.Fatalf("WAL = %+v", recs)
	}
}

// TestWebSocketListener: MQTT over WebSocket stores and acknowledges like
// TCP (anonymous from loopback).
func TestWebSocketListener(t *testing.T) {
	wsAddr := freeAddr(t)
	ta := startAgent(t, Config{WSAddr: wsAddr})
	c := pahoConnectURL(t, "ws://"+wsAddr+"/", "ws-dev")
	waitToken(t, c.Publish("ws/x", 1, false, "over ws"), "WebSocket publish")
	ta.shutdown()
	if recs := readWAL(t, ta.dir); len(recs) != 1 || recs[0].ClientID != "ws-dev" {
		t.Fatalf("WAL = %+v", recs)
	}
}

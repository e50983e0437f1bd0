package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgelog/edgelog/internal/cli"
)

// TestAgentBadFlags: every bad flag or config value is one line naming the
// key, exit code 2, and nothing starts.
func TestAgentBadFlags(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("when-full: sometimes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknown, []byte("max-disc: 1GiB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notBundle := filepath.Join(dir, "creds.pem")
	if err := os.WriteFile(notBundle, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		key  string
	}{
		{[]string{"--fsync", "sometimes"}, "fsync"},
		{[]string{"--when-full", "drop-newest"}, "when-full"},
		{[]string{"--max-disk", "lots"}, "max-disk"},
		{[]string{"--max-disk", "1MiB"}, "max-disk"},
		{[]string{"--listen-mqtt", "nowhere"}, "listen-mqtt"},
		{[]string{"--listen-http", ""}, "listen-http"},
		{[]string{"--max-pending", "0"}, "max-pending"},
		{[]string{"--hub", "127.0.0.1:7070"}, "credentials"},
		{[]string{"--credentials", notBundle}, "hub"},
		{[]string{"--hub", "127.0.0.1:7070", "--credentials", notBundle}, "credentials"},
		{[]string{"--hub", "nohost", "--credentials", notBundle}, "hub"},
		{[]string{"--listen-mqtt-tls", "127.0.0.1:0"}, "listen-mqtt-tls"},
		{[]string{"--log-level", "loud"}, "log-level"},
		{[]string{"--config", cfg}, "when-full"},
		{[]string{"--config", unknown}, "max-disc"},
		{[]string{"--devices", notBundle}, "devices"},
		{[]string{"--devices", filepath.Join(dir, "missing.yaml")}, "devices"},
	} {
		args := append([]string{"agent", "--data", filepath.Join(dir, "data"), "--listen-mqtt", "127.0.0.1:0", "--listen-http", "127.0.0.1:0"}, tc.args...)
		code, _, stderr := runCmd(args...)
		if code != cli.ExitUsage || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, tc.key) {
			t.Errorf("agent %v: exit %d, stderr %q; want exit 2 and one line naming %q", tc.args, code, stderr, tc.key)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("a refused configuration created the data directory")
	}
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

// TestAgentCommandRuns: the command serves MQTT from a YAML config with a
// credentials bundle, stores a publish, and exits 0 on cancellation.
func TestAgentCommandRuns(t *testing.T) {
	dir := t.TempDir()
	mqttAddr, httpAddr := freeAddr(t), freeAddr(t)
	creds := writeTestBundle(t, dir, "gw-7")
	cfg := filepath.Join(dir, "agent.yaml")
	yaml := "listen-mqtt: " + mqttAddr + "\nlisten-http: " + httpAddr + "\nmax-disk: 64MiB\nwhen-full: drop-oldest\nhub: 127.0.0.1:7070\ncredentials: " + creds + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"agent", "--config", cfg, "--data", filepath.Join(dir, "data")}, &cli.Env{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &stderr})
	}()
	o := paho.NewClientOptions().AddBroker("tcp://" + mqttAddr).SetClientID("cli-dev").SetConnectRetry(true).SetConnectRetryInterval(50 * time.Millisecond)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
		cancel()
		t.Fatalf("connect: %v\n%s", tok.Error(), stderr.String())
	}
	if tok := c.Publish("cli/x", 1, false, "hi"); !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	c.Disconnect(100)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("agent exit %d: %s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("agent did not stop")
	}
	code, out, _ := runCmd("wal", "dump", filepath.Join(dir, "data"), "--format", "json")
	if code != 0 || !strings.Contains(out, `"topic":"cli/x"`) || !strings.Contains(out, `"client_id":"cli-dev"`) {
		t.Fatalf("wal dump after the agent: exit %d\n%s", code, out)
	}
}

// writeTestBundle writes a credentials bundle (CA, then agent key and
// certificate) the way edgelog hub credentials lays one out.
func writeTestBundle(t *testing.T, dir, agentID string) string {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test hub CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: agentID},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caTmpl, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	pem.Encode(&b, &pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: leafDER})
	path := filepath.Join(dir, agentID+".pem")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := loadAgentCredentials(path); err != nil || c.agentID != agentID {
		t.Fatalf("loadAgentCredentials: %v", err)
	}
	return path
}

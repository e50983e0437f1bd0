package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/pki"
	"github.com/edgelog/edgelog/internal/testkit"
	"github.com/edgelog/edgelog/syncproto/quictransport"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestSecurityAgents: the hub serves only agents with a certificate from
// its CA that is not revoked. An agent with a certificate from another CA,
// a revoked one, and a client without any certificate are refused and
// nothing of theirs is stored; revoking a connected agent cuts it off.
func TestSecurityAgents(t *testing.T) {
	deny := filepath.Join(t.TempDir(), "deny")
	if err := os.WriteFile(deny, []byte("gw-revoked\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hub := testkit.StartHub(t, testkit.HubOptions{Args: []string{"--deny", deny}})
	good := testkit.StartAgent(t, testkit.AgentOptions{Hub: hub.SyncAddr, Credentials: hub.Credentials(t, "gw-good")})
	foreign := testkit.StartAgent(t, testkit.AgentOptions{Hub: hub.SyncAddr, Credentials: testkit.MintCredentials(t, t.TempDir(), "gw-foreign")})
	revoked := testkit.StartAgent(t, testkit.AgentOptions{Hub: hub.SyncAddr, Credentials: hub.Credentials(t, "gw-revoked")})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	goodDevs := newFleet(t, good.Broker(), "trusted", 2, testkit.DeviceOptions{PayloadSize: 50})
	for _, ag := range []*testkit.Agent{foreign, revoked} {
		f := newFleet(t, ag.Broker(), "intruder", 1, testkit.DeviceOptions{PayloadSize: 50})
		if failed := f.publish(ctx, 50, 1); failed > 0 {
			t.Fatalf("the agent itself refused %d publishes", failed)
		}
	}
	if failed := goodDevs.publish(ctx, 50, 1); failed > 0 {
		t.Fatalf("%d publishes refused", failed)
	}
	expectExactlyOnce(t, hub.KafkaAddr, "trusted", goodDevs.acked())
	for ag, want := range map[*testkit.Agent]string{foreign: "", revoked: "revoked"} {
		waitStatus(t, ag, "a refused sync attempt", func(s testkit.AgentStatus) bool {
			return !s.Hub.Connected && s.Hub.LastError != "" && strings.Contains(s.Hub.LastError, want)
		})
	}
	// A client without a certificate gets nowhere either.
	bundle, err := pki.LoadBundle(hub.Credentials(t, "gw-nocert"))
	if err != nil {
		t.Fatal(err)
	}
	noCert := bundle.ClientTLS()
	noCert.Certificates = nil
	if err := dialWithout(ctx, noCert, hub.SyncAddr); err == nil {
		t.Error("the hub served a client without a certificate")
	}
	// Nothing of the refused agents is stored; the hub does not know them.
	for _, id := range []string{"gw-foreign", "gw-revoked", "gw-nocert"} {
		if a, err := hub.Agent(id); err == nil {
			t.Errorf("the hub knows refused agent %s: %+v", id, a)
		}
	}
	if got, err := testkit.ReadAll(ctx, hub.KafkaAddr, "intruder", time.Minute); err != nil || len(got) > 0 {
		t.Errorf("records of refused agents at the hub: %d (%v)", len(got), err)
	}

	// Revoking the connected agent closes its session; later records stay
	// out.
	if err := os.WriteFile(deny, []byte("gw-revoked\ngw-good\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, good, "the revocation", func(s testkit.AgentStatus) bool {
		return !s.Hub.Connected && strings.Contains(s.Hub.LastError, "revoked")
	})
	before, err := hub.Agent("gw-good")
	if err != nil {
		t.Fatal(err)
	}
	if failed := goodDevs.publish(ctx, 20, 1); failed > 0 {
		t.Fatalf("%d publishes refused", failed)
	}
	time.Sleep(3 * time.Second) // time for a session the hub should not allow
	if after, _ := hub.Agent("gw-good"); after.AckedSeq != before.AckedSeq || after.Connected {
		t.Errorf("a revoked agent still syncs: acked %d → %d, connected %v", before.AckedSeq, after.AckedSeq, after.Connected)
	}
	healthy(t, hub.HTTPAddr, good.HTTPAddr, foreign.HTTPAddr, revoked.HTTPAddr)
}

// dialWithout tries the sync handshake with tlsConf and reports whether the
// hub accepted it: nil only if the connection stayed up.
func dialWithout(ctx context.Context, tlsConf *tls.Config, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := quictransport.NewDialer(tlsConf, quictransport.Config{}).Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close(nil)
	if err := c.HandshakeComplete(ctx); err != nil {
		return err
	}
	if _, err := c.OpenControl(ctx); err != nil {
		return err
	}
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(5 * time.Second):
		return nil
	}
}

// TestSecurityDevices: with a device registry, the agent refuses unknown
// devices, wrong passwords and anonymous clients at CONNECT, and publishes
// outside a device's ACL; none of it is stored.
func TestSecurityDevices(t *testing.T) {
	reg := filepath.Join(t.TempDir(), "devices.yaml")
	add := exec.Command(testkit.Binary(t), "devices", "add", "meter-1", "--file", reg, "--cost", "4", "--publish", "telemetry/{id}/#")
	add.Stdin = strings.NewReader("Meter-1-Password\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("devices add: %v\n%s", err, out)
	}
	hub := testkit.StartHub(t, testkit.HubOptions{})
	ag := testkit.StartAgent(t, testkit.AgentOptions{Hub: hub.SyncAddr, Credentials: hub.Credentials(t, "gw-acl"),
		Args: []string{"--devices", reg, "--log-level", "debug"}})

	// Refused at CONNECT: CONNACK with a non-zero return code, or a
	// closed connection.
	for name, c := range map[string][]byte{
		"wrong password": connectAuth("meter-1", "meter-1", "Not-Meter-1-Password"),
		"unknown device": connectAuth("meter-9", "meter-9", "Meter-1-Password"),
		"anonymous":      connect311("meter-1"),
	} {
		out, err := rawMQTT(ag.MQTTAddr, 10*time.Second, c, publish311([]byte("telemetry/meter-1/x"), 1, []byte("intruder")))
		if err != nil {
			t.Fatal(err)
		}
		if len(out) >= 4 && out[0] == 0x20 && out[3] == 0 {
			t.Errorf("%s: connection accepted (%x)", name, out)
		}
	}
	// Allowed in, but publishing outside the ACL: no PUBACK.
	out, err := rawMQTT(ag.MQTTAddr, 10*time.Second, connectAuth("meter-1", "meter-1", "Meter-1-Password"),
		publish311([]byte("telemetry/meter-2/x"), 7, []byte("intruder")))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 4 || out[0] != 0x20 || out[3] != 0 {
		t.Fatalf("meter-1 with its password was not accepted: %x", out)
	}
	if bytes.Contains(out[4:], []byte{0x40, 0x02, 0, 7}) {
		t.Error("a publish outside the device's ACL was acknowledged")
	}
	// Inside its ACL it works.
	f := newFleet(t, ag.Broker(), "telemetry", 0, testkit.DeviceOptions{})
	f.devs = append(f.devs, testkit.NewDevice(t, ag.Broker(), "meter-1", testkit.DeviceOptions{Username: "meter-1", Password: "Meter-1-Password"}))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if failed := f.publish(ctx, 20, 1); failed > 0 {
		t.Fatalf("%d allowed publishes refused", failed)
	}
	got := expectExactlyOnce(t, hub.KafkaAddr, "telemetry", f.acked())
	for _, r := range got {
		if string(r.Value) == "intruder" {
			t.Errorf("a refused publish reached the hub (topic %s)", r.Headers["mqtt.topic"])
		}
	}
	denied, _ := ag.Metric(`edgelog_agent_rejected_publishes_total{reason="not_authorized"}`)
	if denied == 0 {
		t.Error("no publish counted as refused by the ACL")
	}
	if !strings.Contains(ag.Logs(), "meter-1") {
		t.Error("the agent's debug log does not mention the refused device at all")
	}
	checkNoSecrets(t, []string{"Meter-1-Password"}, ag.Logs(), hub.Logs())
}

// connectAuth is an MQTT 3.1.1 CONNECT with username and password.
func connectAuth(clientID, user, password string) []byte {
	return packet(0x10, mqttStr("MQTT"), []byte{4, 0xC2, 0, 60}, mqttStr(clientID), mqttStr(user), mqttStr(password))
}

// TestSecurityKafkaSASL: with --kafka-users the hub refuses Kafka clients
// with wrong credentials (SCRAM-SHA-256, and PLAIN, which needs TLS) and
// serves the right ones; no password reaches its log, nor any key of the
// hub's CA or the agents' credentials.
func TestSecurityKafkaSASL(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("alice:Alice-Kafka-Secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hub := testkit.StartHub(t, testkit.HubOptions{Args: []string{"--kafka-users", users, "--log-level", "debug"}})
	creds := hub.Credentials(t, "gw-sasl")
	ag := testkit.StartAgent(t, testkit.AgentOptions{Hub: hub.SyncAddr, Credentials: creds, Args: []string{"--log-level", "debug"}})
	f := newFleet(t, ag.Broker(), "secured", 1, testkit.DeviceOptions{PayloadSize: 50})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if failed := f.publish(ctx, 20, 1); failed > 0 {
		t.Fatalf("%d publishes refused", failed)
	}
	// tryConsume fetches the topic's records with opts; nil only if it read
	// some.
	tryConsume := func(opts ...kgo.Opt) error {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(hub.KafkaAddr), kgo.ConsumeTopics("secured"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RequestRetries(0)}, opts...)...)
		if err != nil {
			return err
		}
		defer cl.Close()
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		// A refused client gets its error from a plain request at once.
		if _, err := cl.Request(pctx, kmsg.NewPtrMetadataRequest()); err != nil {
			return err
		}
		for pctx.Err() == nil {
			fs := cl.PollFetches(pctx)
			if err := fs.Err0(); err != nil && pctx.Err() == nil {
				return err
			}
			if fs.NumRecords() > 0 {
				return nil
			}
		}
		return pctx.Err()
	}
	for name, opt := range map[string]kgo.Opt{
		"no credentials":  kgo.ClientID("anonymous"),
		"wrong password":  kgo.SASL(scram.Auth{User: "alice", Pass: "Wrong-Kafka-Secret"}.AsSha256Mechanism()),
		"unknown user":    kgo.SASL(scram.Auth{User: "mallory", Pass: "Alice-Kafka-Secret"}.AsSha256Mechanism()),
		"plain over text": kgo.SASL(plain.Auth{User: "alice", Pass: "Alice-Kafka-Secret"}.AsMechanism()),
	} {
		if err := tryConsume(opt); err == nil {
			t.Errorf("%s: consumed from a hub that requires SASL", name)
		}
	}
	if err := tryConsume(kgo.SASL(scram.Auth{User: "alice", Pass: "Alice-Kafka-Secret"}.AsSha256Mechanism())); err != nil {
		t.Fatalf("alice with her password: %v", err)
	}
	healthy(t, hub.HTTPAddr, ag.HTTPAddr)
	secrets := []string{"Alice-Kafka-Secret", "Wrong-Kafka-Secret"}
	for _, path := range []string{creds, filepath.Join(hub.Dir, "tls", "ca-key.pem"), filepath.Join(hub.Dir, "tls", "hub-key.pem")} {
		secrets = append(secrets, pemKeyLines(t, path)...)
	}
	if !strings.Contains(hub.Logs(), "mallory") {
		t.Error("the hub's debug log does not mention the refused user at all")
	}
	checkNoSecrets(t, secrets, ag.Logs(), hub.Logs())
}

// pemKeyLines returns the base64 lines of the private keys in a PEM file.
func pemKeyLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		ln := sc.Text()
		switch {
		case strings.HasPrefix(ln, "-----BEGIN") && strings.Contains(ln, "PRIVATE KEY"):
			in = true
		case strings.HasPrefix(ln, "-----END"):
			in = false
		case in && len(ln) >= 16:
			out = append(out, ln)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no private key in %s", path)
	}
	return out
}

// checkNoSecrets fails if any secret appears in any of the logs.
func checkNoSecrets(t *testing.T, secrets []string, logs ...string) {
	t.Helper()
	for _, l := range logs {
		for _, s := range secrets {
			if strings.Contains(l, s) {
				t.Errorf("a secret (%.6s…) appears in a process log", s)
			}
		}
	}
}

package agent

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"

	"github.com/edgelog/edgelog/devices"
)

// registryFile writes a device registry: each device's password is
// "pw-<id>", it may publish under telemetry/<id>/ and subscribe under
// commands/<id>/; disabled lists devices registered but disabled.
func registryFile(t *testing.T, path string, ids []string, disabled ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("devices:\n")
	for _, id := range append(append([]string{}, ids...), disabled...) {
		h := testHash(t, id)
		enabled := !strings.Contains(strings.Join(disabled, ","), id)
		fmt.Fprintf(&b, "  - id: %s\n    password-hash: %s\n    publish: [\"telemetry/{id}/#\"]\n    subscribe: [\"commands/{id}/#\"]\n    enabled: %v\n", id, h, enabled)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

var (
	hashMu sync.Mutex
	hashes = map[string]string{}
)

// testHash is the bcrypt hash of "pw-<id>", made once per test process so
// that rewriting a registry does not change a device's credentials.
func testHash(t *testing.T, id string) string {
	t.Helper()
	hashMu.Lock()
	defer hashMu.Unlock()
	if h, ok := hashes[id]; ok {
		return h
	}
	h, err := devices.HashPassword("pw-"+id, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hashes[id] = h
	return h
}

func startWithDevices(t *testing.T, ids []string, disabled ...string) (*testAgent, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "devices.yaml")
	registryFile(t, path, ids, disabled...)
	reg, err := devices.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return startAgent(t, Config{Devices: reg, DevicesPoll: 20 * time.Millisecond}), path
}

// TestDeviceCredentials: only registered, enabled devices with the right
// password connect, each refusal with its CONNACK code.
func TestDeviceCredentials(t *testing.T) {
	ta, _ := startWithDevices(t, []string{"dev-1"}, "dev-off")
	for _, tc := range []struct {
		id, password string
		v5, v3       byte
	}{
		{"dev-1", "pw-dev-1", 0, 0},
		{"dev-1", "wrong", packets.ErrBadUsernameOrPassword.Code, 0x04},
		{"stranger", "pw-stranger", packets.ErrBadUsernameOrPassword.Code, 0x04},
		{"dev-off", "pw-dev-off", packets.ErrBanned.Code, 0x05},
	} {
		if got := dialRaw(t, ta.MQTTAddr(), tc.id, rawOpts{version: 5, password: tc.password}).connack.ReasonCode; got != tc.v5 {
			t.Errorf("%s/%s over MQTT 5: CONNACK %#x, want %#x", tc.id, tc.password, got, tc.v5)
		}
		if got := dialRaw(t, ta.MQTTAddr(), tc.id, rawOpts{password: tc.password}).connack.ReasonCode; got != tc.v3 {
			t.Errorf("%s/%s over MQTT 3.1.1: CONNACK %#x, want %#x", tc.id, tc.password, got, tc.v3)
		}
	}
	o := func(o *paho.ClientOptions) { o.SetUsername("dev-1").SetPassword("pw-dev-1") }
	pahoConnect(t, ta.MQTTAddr(), "dev-1", o)
	if st := ta.Status(); st.MQTT.Authentication != "devices" {
		t.Errorf("status authentication %q", st.MQTT.Authentication)
	}
}

// TestDeviceACL: a device publishes and subscribes only within its ACL;
// a denied publish is not stored and never acknowledged.
func TestDeviceACL(t *testing.T) {
	ta, _ := startWithDevices(t, []string{"dev-1", "dev-2"})
	v5 := dialRaw(t, ta.MQTTAddr(), "dev-1", rawOpts{version: 5, password: "pw-dev-1"})
	v5.publish("telemetry/dev-1/temp", []byte("ok"), 1, 1)
	if ack := v5.expect(packets.Puback, 1); ack.ReasonCode != 0 {
		t.Fatalf("allowed publish: %#x", ack.ReasonCode)
	}
	v5.publish("telemetry/dev-2/temp", []byte("spoof"), 1, 2)
	if ack := v5.expect(packets.Puback, 2); ack.ReasonCode != packets.ErrNotAuthorized.Code {
		t.Fatalf("publish outside the ACL: PUBACK %#x, want 0x87", ack.ReasonCode)
	}
	codes := v5.subscribe(3, packets.Subscription{Filter: "commands/dev-1/#", Qos: 1}, packets.Subscription{Filter: "commands/#", Qos: 1})
	if len(codes) != 2 || codes[0] != 1 || codes[1] != packets.ErrNotAuthorized.Code {
		t.Fatalf("SUBACK %v, want [1 0x87]", codes)
	}
	v3 := dialRaw(t, ta.MQTTAddr(), "dev-2", rawOpts{password: "pw-dev-2"})
	v3.publish("telemetry/dev-1/temp", []byte("spoof"), 1, 1)
	if pk, err := v3.read(waitLong); err == nil {
		t.Fatalf("MQTT 3.1.1 publish outside the ACL got packet type %d, want the connection closed", pk.FixedHeader.Type)
	}
	ta.shutdown()
	recs := readWAL(t, ta.dir)
	if len(recs) != 1 || string(recs[0].Payload) != "ok" {
		t.Fatalf("WAL = %+v, want only the allowed publish", recs)
	}
}

// TestDeviceACLMosquitto: mosquitto_pub with credentials publishes within
// its ACL and is refused outside it.
func TestDeviceACLMosquitto(t *testing.T) {
	pub := mosquittoTool(t, "mosquitto_pub")
	ta, _ := startWithDevices(t, []string{"dev-1"})
	host, port := hostPort(t, ta.MQTTAddr())
	for _, v := range []string{"mqttv311", "mqttv5"} {
		args := []string{"-d", "-h", host, "-p", port, "-V", v, "-q", "1", "-i", "dev-1", "-u", "dev-1", "-P", "pw-dev-1", "-m", "x"}
		if out, err := runTool(t, pub, append(args, "-t", "telemetry/dev-1/a")...); err != nil {
			t.Fatalf("%s allowed publish: %v\n%s", v, err, out)
		}
		out, _ := runTool(t, pub, append(args, "-t", "telemetry/other/a")...)
		if strings.Contains(out, "received PUBACK") && !strings.Contains(out, "RC:135") {
			t.Errorf("%s publish outside the ACL was acknowledged:\n%s", v, out)
		}
	}
	out, err := runTool(t, pub, "-h", host, "-p", port, "-q", "1", "-i", "dev-1", "-u", "dev-1", "-P", "nope", "-t", "telemetry/dev-1/a", "-m", "x")
	if err == nil {
		t.Errorf("wrong password accepted: %s", out)
	}
	if recs := readWAL(t, ta.dir); len(recs) != 2 {
		t.Errorf("%d records, want the 2 allowed publishes", len(recs))
	}
}

// TestDeviceReload: editing the registry file disconnects removed devices,
// keeps the others connected, and admits new ones; a broken edit keeps the
// previous registry.
func TestDeviceReload(t *testing.T) {
	ta, path := startWithDevices(t, []string{"dev-1", "dev-2"})
	keep := dialRaw(t, ta.MQTTAddr(), "dev-1", rawOpts{version: 5, password: "pw-dev-1"})
	gone := dialRaw(t, ta.MQTTAddr(), "dev-2", rawOpts{version: 5, password: "pw-dev-2"})
	if keep.connack.ReasonCode != 0 || gone.connack.ReasonCode != 0 {
		t.Fatal("devices refused before the reload")
	}
	registryFile(t, path, []string{"dev-1", "dev-3"})
	pk, err := gone.read(waitLong)
	if err != nil || pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != packets.ErrNotAuthorized.Code {
		t.Fatalf("removed device: type %d reason %#x err %v, want DISCONNECT 0x87", pk.FixedHeader.Type, pk.ReasonCode, err)
	}
	keep.publish("telemetry/dev-1/x", []byte("still here"), 1, 1)
	if ack := keep.expect(packets.Puback, 1); ack.ReasonCode != 0 {
		t.Fatalf("kept device after reload: PUBACK %#x", ack.ReasonCode)
	}
	if got := dialRaw(t, ta.MQTTAddr(), "dev-3", rawOpts{version: 5, password: "pw-dev-3"}).connack.ReasonCode; got != 0 {
		t.Fatalf("new device after reload: CONNACK %#x", got)
	}
	if err := os.WriteFile(path, []byte("devices: [oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // several polls of the broken file
	if got := dialRaw(t, ta.MQTTAddr(), "dev-3", rawOpts{version: 5, password: "pw-dev-3"}).connack.ReasonCode; got != 0 {
		t.Fatalf("after a broken edit: CONNACK %#x, want the previous registry kept", got)
	}
}

// TestAnonymousOnlyFromLoopback: without a registry, a client connecting
// from a non-loopback address is refused.
func TestAnonymousOnlyFromLoopback(t *testing.T) {
	ip := nonLoopbackIP(t)
	ta := startAgent(t, Config{MQTTAddr: net.JoinHostPort(ip, "0")})
	if got := dialRaw(t, ta.MQTTAddr(), "remote", rawOpts{version: 5}).connack.ReasonCode; got != packets.ErrNotAuthorized.Code {
		t.Fatalf("anonymous client from %s: CONNACK %#x, want 0x87", ip, got)
	}
	if got := dialRaw(t, ta.MQTTAddr(), "remote3", rawOpts{}).connack.ReasonCode; got != packets.Err3NotAuthorized.Code {
		t.Fatalf("anonymous MQTT 3.1.1 client from %s: CONNACK %#x, want 0x05", ip, got)
	}
}

func nonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address")
	return ""
}

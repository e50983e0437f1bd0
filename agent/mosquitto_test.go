package agent

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// mosquittoTool returns the path of a mosquitto client tool, skipping the
// test when Debian's mosquitto-clients is not installed.
func mosquittoTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (apt-get install mosquitto-clients)", name)
	}
	return p
}

func hostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// runTool runs a client tool with a timeout and returns its combined output
// and error.
func runTool(t *testing.T, path string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	return string(out), err
}

// TestMosquittoClients: mosquitto_pub over MQTT 3.1.1 and 5 at QoS 0, 1
// and 2 is stored and delivered to a mosquitto_sub subscriber.
func TestMosquittoClients(t *testing.T) {
	pub, subTool := mosquittoTool(t, "mosquitto_pub"), mosquittoTool(t, "mosquitto_sub")
	ta := startAgent(t, Config{})
	host, port := hostPort(t, ta.MQTTAddr())

	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	var subOut bytes.Buffer
	sub := exec.CommandContext(ctx, subTool, "-h", host, "-p", port, "-V", "mqttv5", "-i", "msub",
		"-t", "mq/#", "-q", "2", "-C", "6", "-v")
	sub.Stdout, sub.Stderr = &subOut, &subOut
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "mosquitto_sub subscribed", func() bool {
		cl, ok := ta.server.Clients.Get("msub")
		return ok && cl.State.Subscriptions.Len() > 0
	})
	var want []string
	for _, v := range []string{"mqttv311", "mqttv5"} {
		for q := 0; q <= 2; q++ {
			topic, msg := fmt.Sprintf("mq/%s/q%d", v, q), fmt.Sprintf("hello-%s-%d", v, q)
			out, err := runTool(t, pub, "-h", host, "-p", port, "-V", v, "-q", fmt.Sprint(q),
				"-i", fmt.Sprintf("mpub-%s-%d", v, q), "-t", topic, "-m", msg)
			if err != nil {
				t.Fatalf("mosquitto_pub -V %s -q %d: %v: %s", v, q, err, out)
			}
			want = append(want, topic+" "+msg)
		}
	}
	if err := sub.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v: %s", err, subOut.String())
	}
	got := strings.Split(strings.TrimSpace(subOut.String()), "\n")
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mosquitto_sub received\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	waitFor(t, "QoS 0 records durable", func() bool { return ta.WAL().Durable() >= 6 })
	ta.shutdown()
	recs := readWAL(t, ta.dir)
	if len(recs) != 6 {
		t.Fatalf("WAL has %d records, want 6", len(recs))
	}
	for _, r := range recs {
		if !strings.HasSuffix(r.Topic, fmt.Sprintf("q%d", r.QoS)) || !strings.HasPrefix(r.ClientID, "mpub-") {
			t.Errorf("record %+v", r)
		}
	}
}

// TestMosquittoOversized: mosquitto_pub's oversized QoS 1 publish is never
// acknowledged and not stored. Over MQTT 3.1.1 the agent closes the
// connection (the tool fails); an MQTT 5 client knows the limit from the
// CONNACK and does not send it.
func TestMosquittoOversized(t *testing.T) {
	pub := mosquittoTool(t, "mosquitto_pub")
	ta := startAgent(t, Config{MaxPacketSize: 2048})
	host, port := hostPort(t, ta.MQTTAddr())
	big := strings.Repeat("x", 8192)
	for _, v := range []string{"mqttv311", "mqttv5"} {
		out, err := runTool(t, pub, "-d", "-h", host, "-p", port, "-V", v, "-q", "1", "-i", "mbig-"+v, "-t", "t/big", "-m", big)
		if strings.Contains(out, "received PUBACK") {
			t.Errorf("mosquitto_pub -V %s of %d bytes was acknowledged: %s", v, len(big), out)
		}
		if v == "mqttv311" && err == nil {
			t.Errorf("mosquitto_pub -V %s of %d bytes succeeded: %s", v, len(big), out)
		}
	}
	if n := len(readWAL(t, ta.dir)); n != 0 {
		t.Fatalf("%d oversized records stored", n)
	}
}

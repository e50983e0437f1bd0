package kafka

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/record"
)

// kcat runs kcat (librdkafka) against addr and returns its standard output.
func kcat(t *testing.T, addr, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", append([]string{"-b", addr, "-X", "broker.address.family=v4"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

func needKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat is not installed (apt-get install kcat)")
	}
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(lines)
	return lines
}

// TestKcat drives the hub with librdkafka's command-line client: metadata,
// produce, consume, and group consumption with committed offsets.
func TestKcat(t *testing.T) {
	needKcat(t)
	h := startHub(t, "", "", hub.Config{Partitions: 3}, Config{})
	if _, err := h.b.CreateTopic(context.Background(), "listed", hub.TopicConfig{Partitions: 5}); err != nil {
		t.Fatal(err)
	}
	meta := kcat(t, h.addr, "", "-L")
	if !strings.Contains(meta, `topic "listed" with 5 partitions`) || !strings.Contains(meta, "1 brokers") {
		t.Fatalf("kcat -L:\n%s", meta)
	}

	var in strings.Builder
	var want []string
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&in, "dev-%d:reading-%d\n", i%7, i)
		want = append(want, fmt.Sprintf("dev-%d=reading-%d", i%7, i))
	}
	sort.Strings(want)
	kcat(t, h.addr, in.String(), "-P", "-t", "kc", "-K:")
	got := kcat(t, h.addr, "", "-C", "-t", "kc", "-e", "-f", "%k=%s\n")
	if fmt.Sprint(sortedLines(got)) != fmt.Sprint(want) {
		t.Fatalf("kcat -C read back %d lines, want %d:\n%s", len(sortedLines(got)), len(want), got)
	}

	// Group: the first member reads everything and commits on exit; a
	// second run of the group only sees what came after.
	first := kcat(t, h.addr, "", "-G", "kgroup", "-X", "auto.offset.reset=earliest", "-c", "200", "-f", "%s\n", "kc")
	if n := len(sortedLines(first)); n != 200 {
		t.Fatalf("kcat -G read %d records, want 200", n)
	}
	var committed int64
	for p := int32(0); p < 3; p++ {
		if off, ok := h.b.CommittedOffset("kgroup", "kc", p); ok {
			committed += off.Offset
		}
	}
	if committed != 200 {
		t.Fatalf("group committed %d offsets in all, want 200", committed)
	}
	kcat(t, h.addr, "late-1\nlate-2\n", "-P", "-t", "kc")
	second := kcat(t, h.addr, "", "-G", "kgroup", "-X", "auto.offset.reset=earliest", "-c", "2", "-f", "%s\n", "kc")
	if fmt.Sprint(sortedLines(second)) != "[late-1 late-2]" {
		t.Fatalf("second group run read:\n%s", second)
	}
	groups := h.s.Groups().List()
	if len(groups) != 1 || groups[0].ID != "kgroup" {
		t.Fatalf("groups: %+v", groups)
	}
}

// TestKcatReadsMergedAgentRecords checks what a librdkafka consumer sees of
// records merged from an agent: key, value and headers.
func TestKcatReadsMergedAgentRecords(t *testing.T) {
	needKcat(t)
	h := startHub(t, "", "", hub.Config{Partitions: 2}, Config{})
	recs := []hub.AgentRecord{
		{Seq: 1, Rec: record.Record{TimeMs: 1700000000000, ClientID: "dev-1", Topic: "telemetry/dev-1/temp", QoS: 1, Payload: []byte(`{"t":21.5}`)}},
		{Seq: 2, Rec: record.Record{TimeMs: 1700000000001, ClientID: "dev-2", Topic: "telemetry/dev-2/temp", QoS: 0, Payload: []byte(`{"t":19}`)}},
	}
	if _, err := h.b.Merge(context.Background(), "gw-7", "0123456789abcdef0123456789abcdef", recs); err != nil {
		t.Fatal(err)
	}
	got := kcat(t, h.addr, "", "-C", "-t", "telemetry", "-e", "-f", "%k|%s|%T|%h\n")
	lines := sortedLines(got)
	want := []string{
		`dev-1|{"t":21.5}|1700000000000|mqtt.topic=telemetry/dev-1/temp,mqtt.qos=1,agent.id=gw-7,agent.seq=1,agent.epoch=0123456789abcdef0123456789abcdef`,
		`dev-2|{"t":19}|1700000000001|mqtt.topic=telemetry/dev-2/temp,mqtt.qos=0,agent.id=gw-7,agent.seq=2,agent.epoch=0123456789abcdef0123456789abcdef`,
	}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Fatalf("kcat saw:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestKcatSCRAM: librdkafka authenticates with SCRAM-SHA-256; a wrong
// password is refused.
func TestKcatSCRAM(t *testing.T) {
	needKcat(t)
	h := startHub(t, "", "", hub.Config{Partitions: 1}, Config{Users: map[string]string{"reader": "s3cret"}})
	auth := func(pw string) []string {
		return []string{"-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-256", "-X", "sasl.username=reader", "-X", "sasl.password=" + pw}
	}
	kcat(t, h.addr, "one\ntwo\n", append(auth("s3cret"), "-P", "-t", "sec")...)
	got := kcat(t, h.addr, "", append(auth("s3cret"), "-C", "-t", "sec", "-e", "-f", "%s\n")...)
	if fmt.Sprint(sortedLines(got)) != "[one two]" {
		t.Fatalf("kcat with SCRAM read:\n%s", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", append([]string{"-b", h.addr, "-X", "broker.address.family=v4", "-m", "5"}, append(auth("wrong"), "-L")...)...)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("kcat with a wrong password listed metadata:\n%s", out)
	}
}

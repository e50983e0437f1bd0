package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgelog/edgelog/devices"
	"github.com/edgelog/edgelog/firmware-sim/sim"
	"github.com/edgelog/edgelog/internal/cli"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

func startMochi(t *testing.T) string {
	t.Helper()
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Close() })
	return "tcp://" + l.Address()
}

func runSim(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, args, &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	return code, errb.String()
}

func TestProvisionThenRunWithReport(t *testing.T) {
	dir := t.TempDir()
	reg, creds, report := filepath.Join(dir, "devices.yaml"), filepath.Join(dir, "creds.yaml"), filepath.Join(dir, "report.json")
	ackedPath := filepath.Join(dir, "acked.jsonl")
	if code, errOut := runSim(t, "provision", "--registry", reg, "--credentials", creds, "--devices", "3", "--cost", "4"); code != 0 {
		t.Fatalf("provision: exit %d: %s", code, errOut)
	}
	if r, err := devices.Load(reg); err != nil || r.Len() != 3 {
		t.Fatalf("registry after provision: %v", err)
	}
	url := startMochi(t)
	code, errOut := runSim(t, "--broker", url, "--devices", "3", "--rate", "20", "--duration", "1s", "--qos", "1",
		"--stream-qos", "log=0", "--format", "cbor", "--credentials", creds, "--report", report, "--acked-log", ackedPath, "--quiet")
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "acked") || !strings.Contains(errOut, "ack latency") {
		t.Errorf("summary missing:\n%s", errOut)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rep sim.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Devices != 3 || rep.Acked == 0 || rep.DeliveredQoS0 == 0 || rep.Acked+rep.DeliveredQoS0+rep.Dropped+rep.Unsent+rep.LostQoS0 != rep.Generated {
		t.Errorf("report: %s", data)
	}
	acked, err := os.ReadFile(ackedPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(acked), "\n"); uint64(n) != rep.Acked || !strings.Contains(string(acked), `"client_id":"sim-0001"`) {
		t.Errorf("acked log has %d lines, report says %d acked", n, rep.Acked)
	}
}

func TestBadFlagsExit2(t *testing.T) {
	cases := map[string][]string{
		"qos":         {"--qos", "5"},
		"profile":     {"--profile", "nope"},
		"format":      {"--format", "xml"},
		"stream-qos":  {"--stream-qos", "log=7"},
		"broker":      {"--broker", "localhost:1883"},
		"credentials": {"--credentials", "/nonexistent/creds.yaml"},
		"registry":    {"provision", "--credentials", "x"},
	}
	for key, args := range cases {
		code, errOut := runSim(t, args...)
		if code != cli.ExitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, key) {
			t.Errorf("%v: exit %d, %q; want exit 2 and one line naming %q", args, code, errOut, key)
		}
	}
}

func TestUnreachableBrokerFails(t *testing.T) {
	code, errOut := runSim(t, "--broker", "tcp://127.0.0.1:1", "--devices", "1", "--duration", "300ms", "--drain", "300ms", "--quiet")
	if code != cli.ExitFailure || !strings.Contains(errOut, "no device could connect") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

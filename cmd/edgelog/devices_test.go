package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgelog/edgelog/devices"
	"github.com/edgelog/edgelog/internal/cli"
)

// runCmdIn runs the edgelog entry point in-process with stdin.
func runCmdIn(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &cli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, out, errOut := runCmdIn(stdin, args...)
	if code != 0 {
		t.Fatalf("edgelog %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

func listJSON(t *testing.T, file string) []listEntry {
	t.Helper()
	var got []listEntry
	if err := json.Unmarshal([]byte(mustRun(t, "", "devices", "list", "--file", file, "--format", "json")), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestDevicesCLIRoundTrip(t *testing.T) {
	file := filepath.Join(t.TempDir(), "devices.yaml")
	mustRun(t, "pw-one\n", "devices", "add", "pump-1", "--file", file, "--cost", "4", "--label", "site=north", "--label", "model=p200")
	mustRun(t, "pw-two\n", "devices", "add", "--id", "pump-2", "--file", file, "--cost", "4",
		"--publish", "telemetry/{id}/#", "--publish", "alarms/{id}", "--subscribe", "commands/{id}/#")
	generated := strings.TrimSpace(mustRun(t, "", "devices", "add", "pump-3", "--file", file, "--cost", "4", "--generate-password"))

	reg, err := devices.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	for id, pw := range map[string]string{"pump-1": "pw-one", "pump-2": "pw-two", "pump-3": generated} {
		if _, err := reg.Authenticate(id, pw); err != nil {
			t.Errorf("%s cannot log in with its password: %v", id, err)
		}
	}
	if !reg.CanPublish("pump-1", "telemetry/pump-1/temp") || !reg.CanPublish("pump-2", "alarms/pump-2") || reg.CanPublish("pump-2", "logs/pump-2") {
		t.Error("ACLs not as given")
	}
	if raw, _ := os.ReadFile(file); strings.Contains(string(raw), "pw-one") || strings.Contains(string(raw), generated) {
		t.Fatal("a password was written in plain")
	}

	got := listJSON(t, file)
	if len(got) != 3 || got[0].ID != "pump-1" || got[0].Labels["site"] != "north" || !got[0].Password || !got[0].Enabled {
		t.Fatalf("list: %+v", got)
	}
	table := mustRun(t, "", "devices", "list", "--file", file)
	if !strings.HasPrefix(table, "ID ") || !strings.Contains(table, "model=p200,site=north") || strings.Count(table, "\n") != 4 {
		t.Errorf("table:\n%s", table)
	}

	mustRun(t, "", "devices", "disable", "pump-1", "--file", file)
	mustRun(t, "new-pw\n", "devices", "passwd", "pump-2", "--file", file, "--cost", "4")
	mustRun(t, "", "devices", "remove", "pump-3", "--file", file)
	reg, err = devices.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Authenticate("pump-1", "pw-one"); !errors.Is(err, devices.ErrDisabled) {
		t.Errorf("disabled device: %v", err)
	}
	if _, err := reg.Authenticate("pump-2", "pw-two"); !errors.Is(err, devices.ErrBadPassword) {
		t.Errorf("old password after passwd: %v", err)
	}
	if _, err := reg.Authenticate("pump-2", "new-pw"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if _, ok := reg.Lookup("pump-3"); ok {
		t.Error("removed device still registered")
	}
	mustRun(t, "", "devices", "enable", "pump-1", "--file", file)
	if got := listJSON(t, file); len(got) != 2 || !got[0].Enabled {
		t.Errorf("after enable: %+v", got)
	}
}

func TestDevicesCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "devices.yaml")
	mustRun(t, "pw\n", "devices", "add", "a", "--file", file, "--cost", "4")
	before, _ := os.ReadFile(file)
	usage := []struct {
		stdin string
		args  []string
		key   string
	}{
		{"pw\n", []string{"devices", "add", "b", "--file", file, "--publish", "a/#/b"}, "publish"},
		{"pw\n", []string{"devices", "add", "b", "--file", file, "--subscribe", "a+"}, "subscribe"},
		{"pw\n", []string{"devices", "add", "b/c", "--file", file}, "id"},
		{"pw\n", []string{"devices", "add", "b", "--file", file, "--label", "novalue"}, "label"},
		{"pw\n", []string{"devices", "add", "b", "--file", file, "--cert-sha256", "xyz"}, "cert-sha256"},
		{"pw\n", []string{"devices", "add", "b", "--file", file, "--no-password"}, "no-password"},
		{"pw\n", []string{"devices", "add", "b", "--file", file, "--cost", "99"}, "cost"},
		{"pw\n", []string{"devices", "add", "b"}, "file"},
		{"", []string{"devices", "remove", "--file", file}, "id"},
		{"", []string{"devices", "list", "--file", file, "--format", "xml"}, "format"},
		{"", []string{"devices", "list", "--file", file, "--bogus"}, "bogus"},
	}
	for _, tc := range usage {
		code, _, errOut := runCmdIn(tc.stdin, tc.args...)
		if code != cli.ExitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.key) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line naming %q", tc.args, code, errOut, tc.key)
		}
	}
	failures := []struct {
		stdin string
		args  []string
		want  string
	}{
		{"pw\n", []string{"devices", "add", "a", "--file", file, "--cost", "4"}, "already registered"},
		{"", []string{"devices", "add", "b", "--file", file, "--cost", "4"}, "no password"},
		{"", []string{"devices", "remove", "ghost", "--file", file}, "no such device"},
		{"", []string{"devices", "passwd", "ghost", "--file", file}, "no such device"},
		{"", []string{"devices", "list", "--file", filepath.Join(dir, "missing.yaml")}, "no such file"},
	}
	for _, tc := range failures {
		code, _, errOut := runCmdIn(tc.stdin, tc.args...)
		if code != cli.ExitFailure || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Error("a refused command changed the file")
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("devices:\n  - id: x\n    pasword-hash: y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmdIn("", "devices", "list", "--file", bad)
	if code != cli.ExitFailure || !strings.Contains(errOut, "bad.yaml:3: pasword-hash: unknown key") {
		t.Errorf("invalid registry: exit %d, %q", code, errOut)
	}
}

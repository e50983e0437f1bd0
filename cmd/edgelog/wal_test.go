package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgelog/edgelog/internal/cli"
	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/wal"
)

// runCmd runs the edgelog binary's entry point in-process.
func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

// writeAgentWAL creates DIR/wal with n edge records and returns DIR.
func writeAgentWAL(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	l, err := wal.Open(filepath.Join(dir, "wal"), wal.Options{SegmentSize: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		b, err := record.Encode(&record.Record{
			TimeMs: 1764000000000 + int64(i), ClientID: fmt.Sprintf("dev-%d", i%3),
			Topic: fmt.Sprintf("telemetry/dev-%d/temp", i%3), QoS: byte(i % 3),
			Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestWALDumpJSONHasEveryRecordInOrder(t *testing.T) {
	dir := writeAgentWAL(t, 200)
	code, out, errOut := runCmd("wal", "dump", dir, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 200 {
		t.Fatalf("%d lines, want 200", len(lines))
	}
	for i, ln := range lines {
		var d struct {
			Seq      uint64 `json:"seq"`
			Time     string `json:"time"`
			ClientID string `json:"client_id"`
			Topic    string `json:"topic"`
			QoS      int    `json:"qos"`
			Payload  string `json:"payload"`
		}
		if err := json.Unmarshal([]byte(ln), &d); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		n := i + 1
		p, _ := base64.StdEncoding.DecodeString(d.Payload)
		if d.Seq != uint64(n) || d.ClientID != fmt.Sprintf("dev-%d", n%3) || d.QoS != n%3 ||
			d.Topic != fmt.Sprintf("telemetry/dev-%d/temp", n%3) || string(p) != fmt.Sprintf(`{"n":%d}`, n) || d.Time == "" {
			t.Fatalf("line %d = %s", i, ln)
		}
	}
}

func TestWALDumpTextAcceptsTheWALDirectoryItself(t *testing.T) {
	dir := writeAgentWAL(t, 3)
	code, out, _ := runCmd("wal", "dump", filepath.Join(dir, "wal"))
	if code != 0 || !strings.Contains(out, `telemetry/dev-1/temp  qos=1  7B  "{\"n\":1}"`) {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestWALVerify(t *testing.T) {
	t.Run("intact", func(t *testing.T) {
		code, out, _ := runCmd("wal", "verify", writeAgentWAL(t, 50))
		if code != 0 || !strings.Contains(out, "records:   50 (sequences 1 to 50)") || !strings.Contains(out, "intact") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("torn tail is repairable", func(t *testing.T) {
		dir := writeAgentWAL(t, 50)
		seg := lastSeg(t, filepath.Join(dir, "wal"))
		info, _ := os.Stat(seg)
		if err := os.Truncate(seg, info.Size()-5); err != nil {
			t.Fatal(err)
		}
		code, out, _ := runCmd("wal", "verify", dir)
		if code != 0 || !strings.Contains(out, "repairable") || !strings.Contains(out, "sequences 1 to 49") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("damage in an older segment fails", func(t *testing.T) {
		dir := writeAgentWAL(t, 400)
		segs, _ := filepath.Glob(filepath.Join(dir, "wal", "*.seg"))
		if len(segs) < 2 {
			t.Fatalf("want several segments, got %d", len(segs))
		}
		b, _ := os.ReadFile(segs[0])
		b[len(b)/2] ^= 0x10
		if err := os.WriteFile(segs[0], b, 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, _ := runCmd("wal", "verify", dir)
		if code != 1 || !strings.Contains(out, "wal: corrupt record at segment "+filepath.Base(segs[0])) {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("not a log", func(t *testing.T) {
		code, _, errOut := runCmd("wal", "verify", t.TempDir())
		if code != 1 || !strings.Contains(errOut, "holds no write-ahead log") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("usage", func(t *testing.T) {
		if code, _, _ := runCmd("wal", "verify"); code != 2 {
			t.Fatalf("no DIR: exit %d", code)
		}
		if code, _, errOut := runCmd("wal", "dump", "x", "--format", "xml"); code != 2 || !strings.Contains(errOut, "format") {
			t.Fatalf("bad format: exit %d %s", code, errOut)
		}
	})
}

func lastSeg(t *testing.T, dir string) string {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) == 0 {
		t.Fatal("no segments")
	}
	return segs[len(segs)-1]
}

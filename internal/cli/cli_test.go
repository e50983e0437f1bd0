package cli

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newTestFlags(t *testing.T) (*flag.FlagSet, *string, *Bytes, *bytes.Buffer) {
	t.Helper()
	var stderr bytes.Buffer
	fs := NewFlagSet("x", "edgelog x [flags]", &Env{Stderr: &stderr})
	listen := fs.String("listen", ":1", "address")
	var size Bytes = 1 << 30
	fs.Var(&size, "max-disk", "quota")
	return fs, listen, &size, &stderr
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFileAppliesAndFlagsOverride(t *testing.T) {
	cfg := writeConfig(t, "listen: \":9\"\nmax-disk: 512MiB\n")
	fs, listen, size, _ := newTestFlags(t)
	if err := Parse(fs, []string{"--config", cfg, "--listen", ":7"}); err != nil {
		t.Fatal(err)
	}
	if *listen != ":7" {
		t.Errorf("flag should override config: listen = %q", *listen)
	}
	if *size != 512<<20 {
		t.Errorf("max-disk from config = %d, want %d", *size, 512<<20)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct{ name, body, key string }{
		{"unknown key", "listen: a\nlisten-mqt: b\n", "listen-mqt"},
		{"bad value", "max-disk: lots\n", "max-disk"},
		{"duplicate", "listen: a\nlisten: b\n", "listen"},
		{"nested", "listen:\n  a: b\n", "listen"},
		{"not a mapping", "- a\n- b\n", "config"},
		{"bad yaml", "listen: [a\n", "config"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs, _, _, _ := newTestFlags(t)
			err := Parse(fs, []string{"--config", writeConfig(t, tc.body)})
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("want UsageError, got %v", err)
			}
			if ue.Key != tc.key {
				t.Errorf("error %q names key %q, want %q", err, ue.Key, tc.key)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestBadFlagIsUsageExit(t *testing.T) {
	fs, _, _, _ := newTestFlags(t)
	err := Parse(fs, []string{"--nope"})
	var stderr bytes.Buffer
	code, ok := ReportParse(err, &Env{Stderr: &stderr}, "x")
	if ok || code != ExitUsage {
		t.Fatalf("code=%d ok=%v, want %d false", code, ok, ExitUsage)
	}
	if !strings.Contains(stderr.String(), "nope") {
		t.Errorf("message should name the flag: %q", stderr.String())
	}
}

func TestParseBytes(t *testing.T) {
	good := map[string]int64{"1GiB": 1 << 30, "512MiB": 512 << 20, "1500": 1500, "10MB": 10e6, "2G": 2 << 30, "64KiB": 64 << 10}
	for in, want := range good {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "GiB", "1.5GiB", "9999999999999TiB", "12XB"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) should fail", bad)
		}
	}
	if s := FormatBytes(1 << 30); s != "1GiB" {
		t.Errorf("FormatBytes = %q", s)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("listen: \":1883\"\nmax-disk: 1GiB\n"))
	f.Add([]byte("a: [1, 2]\n"))
	f.Add([]byte("- x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseConfig(data)
		if err == nil && m == nil {
			t.Fatal("nil map without error")
		}
	})
}

func TestParseArgsTakesFlagsAnywhere(t *testing.T) {
	fs := NewFlagSet("x", "x", &Env{Stderr: &bytes.Buffer{}})
	format := fs.String("format", "text", "")
	verbose := fs.Bool("v", false, "")
	pos, err := ParseArgs(fs, []string{"dump", "--format", "json", "DIR", "-v", "--", "--literal"})
	if err != nil {
		t.Fatal(err)
	}
	if *format != "json" || !*verbose || strings.Join(pos, " ") != "dump DIR --literal" {
		t.Fatalf("format %q verbose %v positional %q", *format, *verbose, pos)
	}
	if _, err := ParseArgs(fs, []string{"DIR", "--nope"}); err == nil {
		t.Fatal("unknown flag accepted")
	}
}

func TestHelpListsFlagsOnceAndBadFlagIsOneLine(t *testing.T) {
	fs, _, _, stderr := newTestFlags(t)
	if err := Parse(fs, []string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if out := stderr.String(); strings.Count(out, "usage:") != 1 || !strings.Contains(out, "-max-disk") {
		t.Errorf("--help output should show the synopsis once and the flags:\n%s", out)
	}
	fs, _, _, stderr = newTestFlags(t)
	err := Parse(fs, []string{"--nope"})
	var out bytes.Buffer
	ReportParse(err, &Env{Stderr: &out}, "x")
	if stderr.Len() != 0 || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("bad flag: printed %q and %q, want one line", stderr.String(), out.String())
	}
}

package main

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// configDoc is the configuration reference; its flag tables are generated
// from the commands' own --help, between markers
//
//	<!-- flags: COMMAND -->
//	...
//	<!-- end flags -->
//
// TestConfigDocIsCurrent fails when a table differs from what the command
// defines (a flag added, removed, or its default or text changed).
// EDGELOG_UPDATE_DOCS=1 rewrites the tables in place.
const configDoc = "../../docs/CONFIG.md"

// documentedCommands are the command paths whose flags the reference lists.
var documentedCommands = []string{
	"agent", "hub", "hub credentials", "demo", "consume",
	"devices add", "devices list", "devices passwd", "devices enable", "devices disable", "devices remove",
	"wal dump", "wal verify",
}

// helpFlag is one flag as `--help` prints it.
type helpFlag struct {
	name, kind, def, usage string
}

// parseHelpFlags reads the flags section of a command's --help (the flag
// package's PrintDefaults format).
func parseHelpFlags(help string) []helpFlag {
	var out []helpFlag
	_, section, _ := strings.Cut(help, "\nflags:\n")
	head := regexp.MustCompile(`^  -([a-z0-9-]+)(?: (.*))?$`)
	for _, line := range strings.Split(section, "\n") {
		if m := head.FindStringSubmatch(line); m != nil {
			out = append(out, helpFlag{name: m[1], kind: m[2]})
			continue
		}
		if text, ok := strings.CutPrefix(line, "    \t"); ok && len(out) > 0 {
			f := &out[len(out)-1]
			f.usage = strings.TrimSpace(f.usage + " " + text)
		}
	}
	def := regexp.MustCompile(` \(default (.+)\)$`)
	for i := range out {
		f := &out[i]
		if m := def.FindStringSubmatch(f.usage); m != nil {
			f.def = strings.Trim(m[1], `"`)
			f.usage = strings.TrimSuffix(f.usage, m[0])
		}
		switch {
		case f.kind == "":
			f.kind = "bool"
			if f.def == "" {
				f.def = "false"
			}
		case f.kind == "value" && strings.Contains(f.usage, "repeatable"):
			f.kind = "list"
		case f.kind == "value" && strings.HasSuffix(f.def, "B"):
			f.kind = "size"
		}
	}
	return out
}

// flagTable renders a command's flags as a Markdown table.
func flagTable(flags []helpFlag) string {
	esc := strings.NewReplacer("|", `\|`).Replace
	var b strings.Builder
	b.WriteString("| flag | type | default | meaning |\n|---|---|---|---|\n")
	for _, f := range flags {
		if f.name == "config" {
			continue // every command has it; the reference explains it once
		}
		def := "—"
		if f.def != "" {
			def = "`" + f.def + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", f.name, f.kind, esc(def), esc(f.usage))
	}
	return b.String()
}

func TestConfigDocIsCurrent(t *testing.T) {
	for _, c := range commands() {
		if !slices.ContainsFunc(documentedCommands, func(p string) bool { return strings.Fields(p)[0] == c.Name }) {
			t.Errorf("command %q is missing from the configuration reference (documentedCommands)", c.Name)
		}
	}
	b, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	updated := doc
	for _, cmd := range documentedCommands {
		_, _, help := runCmd(append(strings.Fields(cmd), "--help")...)
		flags := parseHelpFlags(help)
		if len(flags) == 0 {
			t.Fatalf("edgelog %s --help lists no flags:\n%s", cmd, help)
		}
		begin := "<!-- flags: " + cmd + " -->\n"
		i := strings.Index(updated, begin)
		if i < 0 {
			t.Errorf("%s has no %q section", configDoc, strings.TrimSpace(begin))
			continue
		}
		start := i + len(begin)
		n := strings.Index(updated[start:], "<!-- end flags -->")
		if n < 0 {
			t.Fatalf("%s: section %q is not closed by <!-- end flags -->", configDoc, cmd)
		}
		updated = updated[:start] + flagTable(flags) + updated[start+n:]
	}
	if updated == doc {
		return
	}
	if os.Getenv("EDGELOG_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(configDoc, []byte(updated), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the flag tables of %s", configDoc)
		return
	}
	t.Errorf("%s does not match the commands' flags; regenerate with\n  EDGELOG_UPDATE_DOCS=1 go test -run TestConfigDocIsCurrent ./cmd/edgelog\nand review the diff", configDoc)
}

func TestParseHelpFlags(t *testing.T) {
	help := "usage: x\n\nflags:\n  -data string\n    \tdirectory (default \"./d\")\n  -keep\n    \tkeep it\n  -max-disk value\n    \tquota (e.g. 2GiB) (default 1GiB)\n" +
		"  -label value\n    \tNAME=VALUE (repeatable)\n  -on\n    \tenabled (default true)\n"
	got := parseHelpFlags(help)
	want := []helpFlag{
		{"data", "string", "./d", "directory"}, {"keep", "bool", "false", "keep it"},
		{"max-disk", "size", "1GiB", "quota (e.g. 2GiB)"}, {"label", "list", "", "NAME=VALUE (repeatable)"},
		{"on", "bool", "true", "enabled"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if tab := flagTable(got[:1]); !strings.Contains(tab, "| `--data` | string | `./d` | directory |") {
		t.Errorf("table:\n%s", tab)
	}
}

package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// flagNames lists the flags `edgelog CMD --help` documents.
func flagNames(t *testing.T, cmd ...string) []string {
	t.Helper()
	_, _, help := runCmd(append(cmd, "--help")...)
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`).FindAllStringSubmatch(help, -1) {
		if m[1] != "config" {
			names = append(names, m[1])
		}
	}
	if len(names) == 0 {
		t.Fatalf("edgelog %s --help lists no flags:\n%s", strings.Join(cmd, " "), help)
	}
	slices.Sort(names)
	return names
}

// exampleKeys lists the keys an example config names, set or commented out.
func exampleKeys(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, m := range regexp.MustCompile(`(?m)^(?:# )?([a-z0-9-]+):(?: |$)`).FindAllStringSubmatch(string(b), -1) {
		if !slices.Contains(keys, m[1]) {
			keys = append(keys, m[1])
		}
	}
	slices.Sort(keys)
	return keys
}

// TestExampleConfigsNameEveryFlag keeps deploy/config in step with the
// commands: every flag is in the example (set or commented with its
// default) and every key in the example is a flag.
func TestExampleConfigsNameEveryFlag(t *testing.T) {
	for _, c := range []struct {
		cmd, file string
	}{{"agent", "../../deploy/config/agent.yaml"}, {"hub", "../../deploy/config/hub.yaml"}} {
		flags, keys := flagNames(t, c.cmd), exampleKeys(t, c.file)
		for _, f := range flags {
			if !slices.Contains(keys, f) {
				t.Errorf("%s: flag --%s is not in %s", c.cmd, f, c.file)
			}
		}
		for _, k := range keys {
			if !slices.Contains(flags, k) {
				t.Errorf("%s: %s names %q, which is not a flag of edgelog %s", c.cmd, c.file, k, c.cmd)
			}
		}
	}
}

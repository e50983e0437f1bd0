package devices

import (
	"fmt"
	"testing"
)

func aclRegistry(t *testing.T) *Registry {
	t.Helper()
	return mustParse(t, fmt.Sprintf(`
devices:
  - id: dev-1
    password-hash: %[1]q
    publish: ["telemetry/{id}/#", "logs/{id}", "fw/+/status", "$SYS/dev/{id}", "dev-{id}/x"]
    subscribe: ["commands/{id}/#", "broadcast/+", "$SYS/#"]
  - id: dev-2
    password-hash: %[1]q
    publish: ["#"]
    subscribe: ["#"]
  - id: off
    password-hash: %[1]q
    enabled: false
    publish: ["#"]
    subscribe: ["#"]
  - id: plus
    password-hash: %[1]q
    publish: ["+/{id}"]
    subscribe: ["a/+/c"]
`, testHash(t)))
}

func TestCanPublish(t *testing.T) {
	r := aclRegistry(t)
	cases := []struct {
		id, topic string
		want      bool
	}{
		{"dev-1", "telemetry/dev-1/temp", true},
		{"dev-1", "telemetry/dev-1", true}, // '#' matches the parent level
		{"dev-1", "telemetry/dev-1/a/b/c", true},
		{"dev-1", "telemetry/dev-2/temp", false}, // {id} is the caller's own ID
		{"dev-1", "telemetry/{id}/temp", false},  // the placeholder is not a literal
		{"dev-1", "telemetry", false},
		{"dev-1", "logs/dev-1", true},
		{"dev-1", "logs/dev-1/x", false},
		{"dev-1", "fw/anything/status", true},
		{"dev-1", "fw/a/b/status", false}, // '+' is one level
		{"dev-1", "fw//status", true},     // '+' matches an empty level
		{"dev-1", "$SYS/dev/dev-1", true}, // explicit '$' filter
		{"dev-1", "dev-dev-1/x", true},    // {id} inside a level
		{"dev-1", "telemetry/dev-1/+", false},
		{"dev-1", "telemetry/dev-1/#", false}, // wildcards are not topic names
		{"dev-1", "", false},
		{"dev-1", "telemetry/dev-1/\x00", false},
		{"dev-2", "anything/at/all", true},
		{"dev-2", "$SYS/broker", false}, // '#' does not match '$' topics
		{"dev-2", "$share/g/x", false},
		{"dev-2", "/leading/slash", true},
		{"off", "anything", false}, // disabled
		{"ghost", "anything", false},
		{"plus", "x/plus", true},
		{"plus", "$x/plus", false}, // leading '+' does not match '$'
		{"plus", "x/y/plus", false},
	}
	for _, tc := range cases {
		if got := r.CanPublish(tc.id, tc.topic); got != tc.want {
			t.Errorf("CanPublish(%q, %q) = %v, want %v", tc.id, tc.topic, got, tc.want)
		}
	}
}

func TestCanSubscribe(t *testing.T) {
	r := aclRegistry(t)
	cases := []struct {
		id, filter string
		want       bool
	}{
		{"dev-1", "commands/dev-1/#", true},
		{"dev-1", "commands/dev-1/reboot", true},
		{"dev-1", "commands/dev-1/+/x", true},
		{"dev-1", "commands/dev-1", true},
		{"dev-1", "commands/+/#", false}, // would see other devices' commands
		{"dev-1", "commands/#", false},
		{"dev-1", "commands/dev-2/#", false},
		{"dev-1", "broadcast/all", true},
		{"dev-1", "broadcast/+", true},
		{"dev-1", "broadcast/#", false}, // '#' includes broadcast and deeper levels
		{"dev-1", "broadcast/a/b", false},
		{"dev-1", "#", false},
		{"dev-1", "$SYS/broker/load", true},
		{"dev-1", "$SYS/#", true},
		{"dev-1", "$share/grp/commands/dev-1/#", true},
		{"dev-1", "$share/grp/commands/#", false},
		{"dev-1", "$share//commands/dev-1/#", false}, // empty group
		{"dev-1", "$share/grp", false},
		{"dev-1", "commands/dev-1/#/x", false}, // malformed
		{"dev-1", "commands/dev-1/a+", false},
		{"dev-2", "#", true},
		{"dev-2", "+/x", true},
		{"dev-2", "$SYS/#", false}, // '#' does not cover '$' topics
		{"dev-2", "$SYS/x", false},
		{"dev-2", "+", true}, // a leading '+' never matches '$' topics either
		{"off", "x", false},
		{"ghost", "x", false},
		{"plus", "a/b/c", true},
		{"plus", "a/+/c", true},
		{"plus", "a/#", false},
		{"plus", "a/+/#", false},
		{"plus", "a/b/c/d", false},
		{"plus", "a/b", false},
	}
	for _, tc := range cases {
		if got := r.CanSubscribe(tc.id, tc.filter); got != tc.want {
			t.Errorf("CanSubscribe(%q, %q) = %v, want %v", tc.id, tc.filter, got, tc.want)
		}
	}
}

// TestCoversAgreesWithMatches checks the subscription rule against its
// definition: if f covers s, every topic s matches, f matches.
func TestCoversAgreesWithMatches(t *testing.T) {
	filters := []string{"#", "+", "a", "a/#", "a/+", "+/b", "a/b", "a/+/#", "+/+", "$s/#", "$s/+", "+/#", "a//b", "$s"}
	topics := []string{"a", "b", "a/b", "a/c", "x/b", "a/b/c", "$s", "$s/x", "$s/x/y", "a//b", "/b", "", "/"}
	for _, fs := range filters {
		f := compileFilter(fs)
		for _, ss := range filters {
			s := compileFilter(ss)
			if !f.covers(s) {
				continue
			}
			for _, topic := range topics {
				levels := compileFilter(topic)
				if s.matches(levels) && !f.matches(levels) {
					t.Errorf("%q covers %q, but %q matches topic %q and %q does not", fs, ss, ss, topic, fs)
				}
			}
		}
	}
}

func TestValidateFilter(t *testing.T) {
	good := []string{"#", "+", "a/#", "a/+/b", "+/+/+", "/", "a//b", "$SYS/#", "a/b c/ü"}
	bad := []string{"", "a/#/b", "#/a", "a#", "a/b#", "a+/b", "a/+b", "\x00", "a/\xff"}
	for _, f := range good {
		if err := ValidateFilter(f); err != nil {
			t.Errorf("ValidateFilter(%q) = %v", f, err)
		}
	}
	for _, f := range bad {
		if err := ValidateFilter(f); err == nil {
			t.Errorf("ValidateFilter(%q) accepted a malformed filter", f)
		}
	}
	for _, f := range []string{"a/{ID}", "{client}/x", "$share/g/a"} {
		if err := ValidateACLFilter(f); err == nil {
			t.Errorf("ValidateACLFilter(%q) accepted it", f)
		}
	}
	for _, f := range []string{"a/{id}", "a/{id}-{id}", "a/{}", "a/{x y}"} {
		if err := ValidateACLFilter(f); err != nil {
			t.Errorf("ValidateACLFilter(%q) = %v", f, err)
		}
	}
}

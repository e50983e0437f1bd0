package devices

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxTopicBytes is MQTT's limit on a topic name or filter (a 16-bit length).
const maxTopicBytes = 65535

// sharePrefix starts an MQTT 5 shared subscription: $share/{group}/{filter}.
const sharePrefix = "$share/"

// ValidateTopic reports whether name is a valid MQTT topic name (what a
// device publishes to): non-empty, valid UTF-8, no NUL, no wildcards, at
// most 65535 bytes.
func ValidateTopic(name string) error {
	if err := validateText(name); err != nil {
		return err
	}
	if strings.ContainsAny(name, "+#") {
		return fmt.Errorf("%w: %q: a topic name cannot contain '+' or '#'", ErrBadTopic, name)
	}
	return nil
}

// ValidateFilter reports whether f is a valid MQTT topic filter: '#' only as
// the whole last level, '+' only as a whole level, plus the rules of
// ValidateTopic for everything else.
func ValidateFilter(f string) error {
	if err := validateText(f); err != nil {
		return err
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("%w: %q: '#' must be the last level", ErrBadTopic, f)
		case l == "#", l == "+":
		case strings.ContainsAny(l, "+#"):
			return fmt.Errorf("%w: %q: a wildcard must be a whole level", ErrBadTopic, f)
		}
	}
	return nil
}

func validateText(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty", ErrBadTopic)
	case len(s) > maxTopicBytes:
		return fmt.Errorf("%w: longer than %d bytes", ErrBadTopic, maxTopicBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: not valid UTF-8", ErrBadTopic)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%w: contains NUL", ErrBadTopic)
	}
	return nil
}

// splitShare strips an MQTT 5 shared-subscription prefix, returning the
// inner filter. ok is false when the prefix is present but malformed.
func splitShare(f string) (inner string, ok bool) {
	if !strings.HasPrefix(f, sharePrefix) {
		return f, true
	}
	group, inner, found := strings.Cut(f[len(sharePrefix):], "/")
	if !found || group == "" || strings.ContainsAny(group, "+#") || inner == "" {
		return "", false
	}
	return inner, true
}

// filter is a validated topic filter split into levels.
type filter []string

func compileFilter(f string) filter { return strings.Split(f, "/") }

// matches reports whether the topic name (split into levels) matches the
// filter. Per MQTT, a filter starting with a wildcard does not match a topic
// whose first level starts with '$'.
func (f filter) matches(topic []string) bool {
	if len(topic) > 0 && strings.HasPrefix(topic[0], "$") && len(f) > 0 && (f[0] == "+" || f[0] == "#") {
		return false
	}
	for i, l := range f {
		if l == "#" {
			return true // '#' also matches the parent level itself
		}
		if i >= len(topic) {
			return false
		}
		if l != "+" && l != topic[i] {
			return false
		}
	}
	return len(f) == len(topic)
}

// covers reports whether every topic name matched by sub is also matched by
// f. Both are valid filters split into levels.
func (f filter) covers(sub []string) bool {
	for i, l := range f {
		if l == "#" {
			// A leading '#' in f does not match '$' topics; neither does a
			// leading wildcard in sub, but a literal '$…' first level does.
			return i > 0 || !strings.HasPrefix(sub[0], "$")
		}
		if i >= len(sub) {
			return false
		}
		s := sub[i]
		switch {
		case s == "#":
			return false // sub matches any depth here, f does not
		case l == "+":
			if i == 0 && strings.HasPrefix(s, "$") {
				return false
			}
		case l != s: // a literal in f covers only the same literal
			return false
		}
	}
	return len(f) == len(sub)
}

// errPlaceholder is returned for a {name} placeholder other than {id}.
var errPlaceholder = errors.New("only the {id} placeholder is supported")

// checkPlaceholders rejects {word} sequences other than {id}, which are
// almost always a typo ({ID}, {client}) that would otherwise match nothing.
func checkPlaceholders(f string) error {
	for rest := f; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return nil
		}
		rest = rest[i+1:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return nil
		}
		name := rest[:j]
		if name != "id" && isWord(name) {
			return fmt.Errorf("%w: {%s}", errPlaceholder, name)
		}
	}
}

func isWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// expand substitutes the device ID for every {id} in f.
func expand(f, id string) string { return strings.ReplaceAll(f, "{id}", id) }

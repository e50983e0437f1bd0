package devices

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// File keys. Unknown keys are errors (a misspelt "publsh" must not silently
// deny or allow anything).
const (
	keyDevices   = "devices"
	keyID        = "id"
	keyPassword  = "password-hash"
	keyCert      = "cert-sha256"
	keyPublish   = "publish"
	keySubscribe = "subscribe"
	keyEnabled   = "enabled"
	keyLabels    = "labels"
)

func perr(n *yaml.Node, key string, format string, args ...any) *ParseError {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &ParseError{Line: line, Key: key, Err: fmt.Errorf(format, args...)}
}

// decodeDevices turns registry YAML into devices, checking every rule except
// duplicate IDs. Errors are *ParseError.
func decodeDevices(data []byte) ([]Device, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(err)
	}
	if len(doc.Content) == 0 {
		return nil, nil // empty file: no devices
	}
	if err := rejectAliases(&doc); err != nil {
		return nil, err
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, perr(root, "", "want a mapping with a %q list", keyDevices)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case keyDevices:
			if list != nil {
				return nil, perr(k, k.Value, "given twice")
			}
			list = v
		default:
			return nil, perr(k, k.Value, "unknown key (want %q)", keyDevices)
		}
	}
	if list == nil || isNull(list) {
		return nil, nil
	}
	if list.Kind != yaml.SequenceNode {
		return nil, perr(list, keyDevices, "want a list of devices")
	}
	out := make([]Device, 0, len(list.Content))
	for _, item := range list.Content {
		d, err := decodeDevice(item)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// yamlError converts a yaml syntax error ("yaml: line 3: ...") to a
// one-line *ParseError.
func yamlError(err error) *ParseError {
	msg := strings.TrimPrefix(firstLine(err.Error()), "yaml: ")
	var line int
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		if _, rest, ok := strings.Cut(msg, ": "); ok {
			msg = rest
		}
	}
	return &ParseError{Line: line, Err: errors.New(msg)}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func rejectAliases(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		return perr(n, "", "YAML aliases are not supported in a registry")
	}
	for _, c := range n.Content {
		if err := rejectAliases(c); err != nil {
			return err
		}
	}
	return nil
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func decodeDevice(n *yaml.Node) (Device, error) {
	d := Device{Line: n.Line, Enabled: true}
	if n.Kind != yaml.MappingNode {
		return d, perr(n, keyDevices, "each device must be a mapping with at least %q", keyID)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return d, perr(k, k.Value, "given twice")
		}
		seen[k.Value] = true
		if err := decodeField(&d, k, v); err != nil {
			return d, err
		}
	}
	if !seen[keyID] {
		return d, perr(n, keyID, "missing")
	}
	if d.PasswordHash == "" && d.CertSHA256 == "" {
		return d, perr(n, keyPassword, "device %q has neither %s nor %s", d.ID, keyPassword, keyCert)
	}
	return d, nil
}

func decodeField(d *Device, k, v *yaml.Node) error {
	var err error
	switch k.Value {
	case keyID:
		if d.ID, err = scalar(v, k.Value); err == nil {
			if verr := ValidateID(d.ID); verr != nil {
				return perr(v, k.Value, "%v", verr)
			}
		}
	case keyPassword:
		if d.PasswordHash, err = scalar(v, k.Value); err == nil {
			if herr := checkHash(d.PasswordHash); herr != nil {
				return perr(v, k.Value, "%v", herr)
			}
		}
	case keyCert:
		var s string
		if s, err = scalar(v, k.Value); err == nil {
			if d.CertSHA256, err = NormalizeFingerprint(s); err != nil {
				return perr(v, k.Value, "%v", err)
			}
		}
	case keyPublish:
		d.Publish, err = filters(v, k.Value)
	case keySubscribe:
		d.Subscribe, err = filters(v, k.Value)
	case keyEnabled:
		if v.Kind != yaml.ScalarNode || v.Decode(&d.Enabled) != nil {
			return perr(v, k.Value, "want true or false")
		}
	case keyLabels:
		d.Labels, err = labels(v)
	default:
		return perr(k, k.Value, "unknown key (want one of %s, %s, %s, %s, %s, %s, %s)",
			keyID, keyPassword, keyCert, keyPublish, keySubscribe, keyEnabled, keyLabels)
	}
	return err
}

func scalar(v *yaml.Node, key string) (string, error) {
	if v.Kind != yaml.ScalarNode || isNull(v) {
		return "", perr(v, key, "want a string")
	}
	return v.Value, nil
}

func filters(v *yaml.Node, key string) ([]string, error) {
	items := []*yaml.Node{v}
	switch {
	case isNull(v):
		return nil, nil
	case v.Kind == yaml.SequenceNode:
		items = v.Content
	case v.Kind != yaml.ScalarNode:
		return nil, perr(v, key, "want a list of topic filters")
	}
	if len(items) > MaxFilters {
		return nil, perr(v, key, "%d filters, at most %d allowed", len(items), MaxFilters)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		f, err := scalar(it, key)
		if err != nil {
			return nil, err
		}
		if err := ValidateACLFilter(f); err != nil {
			return nil, perr(it, key, "%v", err)
		}
		out = append(out, f)
	}
	return out, nil
}

func labels(v *yaml.Node) (map[string]string, error) {
	if isNull(v) {
		return nil, nil
	}
	if v.Kind != yaml.MappingNode {
		return nil, perr(v, keyLabels, "want a mapping of names to values")
	}
	if len(v.Content)/2 > MaxLabels {
		return nil, perr(v, keyLabels, "%d labels, at most %d allowed", len(v.Content)/2, MaxLabels)
	}
	out := make(map[string]string, len(v.Content)/2)
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if k.Kind != yaml.ScalarNode || val.Kind != yaml.ScalarNode {
			return nil, perr(k, keyLabels, "label names and values must be strings")
		}
		if len(k.Value) > MaxLabelBytes || len(val.Value) > MaxLabelBytes {
			return nil, perr(k, keyLabels, "label %q longer than %d bytes", firstN(k.Value, 32), MaxLabelBytes)
		}
		if _, dup := out[k.Value]; dup {
			return nil, perr(k, keyLabels, "label %q given twice", k.Value)
		}
		out[k.Value] = val.Value
	}
	return out, nil
}

func firstN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// NormalizeFingerprint accepts a SHA-256 fingerprint as 64 hex digits, in
// either case, optionally separated by ':' (the openssl x509 -fingerprint
// form), and returns it as 64 lowercase hex digits.
func NormalizeFingerprint(s string) (string, error) {
	h := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
		return "", fmt.Errorf("want a SHA-256 fingerprint (64 hex digits, ':' separators allowed)")
	}
	return h, nil
}

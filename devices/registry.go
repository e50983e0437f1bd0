package devices

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
)

// Bounds on a registry, enforced before and while parsing (invariant 6).
const (
	// MaxFileBytes bounds the registry file. The YAML node tree costs tens of
	// bytes per input byte, so this keeps a reload within a gateway's memory;
	// 4 MiB holds about 20 000 devices.
	MaxFileBytes = 4 << 20
	// MaxFilters bounds the publish and the subscribe list of one device.
	MaxFilters = 256
	// MaxLabels bounds the labels of one device.
	MaxLabels = 64
	// MaxLabelBytes bounds one label key or value.
	MaxLabelBytes = 1024
	// MaxIDBytes bounds a device ID (an MQTT client ID has a 16-bit length).
	MaxIDBytes = 65535
)

// Device is one registered device, as written in the registry file. The
// filters keep their {id} placeholders; matching substitutes the ID.
type Device struct {
	ID           string            `json:"id"`
	PasswordHash string            `json:"-"`                     // bcrypt; "" for certificate-only devices
	CertSHA256   string            `json:"cert_sha256,omitempty"` // lowercase hex of sha256(leaf DER); "" if none
	Publish      []string          `json:"publish"`
	Subscribe    []string          `json:"subscribe"`
	Enabled      bool              `json:"enabled"`
	Labels       map[string]string `json:"labels,omitempty"`
	Line         int               `json:"-"` // line of the entry in the file
}

// HasPassword reports whether the device authenticates with a password.
func (d Device) HasPassword() bool { return d.PasswordHash != "" }

// entry is a device with its filters expanded and split, ready to match.
type entry struct {
	dev      Device
	pub, sub []filter
}

// Registry is an immutable, parsed registry. All methods are safe for
// concurrent use; a reload produces a new Registry.
type Registry struct {
	path    string
	digest  [sha256.Size]byte
	order   []string          // device IDs in file order
	devices map[string]*entry // by ID; never mutated after parse
	auth    *authCache        // verified-password cache; has its own lock
}

// Load reads and parses the registry file at path. Errors name the line:
// a *ParseError wrapping ErrInvalid, or ErrTooLarge.
func Load(path string) (*Registry, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	return parse(path, data)
}

// Parse parses registry bytes (the contents of a registry file).
func Parse(data []byte) (*Registry, error) { return parse("", data) }

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("devices: read %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrTooLarge, path, MaxFileBytes)
	}
	return data, nil
}

func parse(path string, data []byte) (*Registry, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxFileBytes)
	}
	devs, err := decodeDevices(data)
	if err != nil {
		if pe, ok := err.(*ParseError); ok {
			pe.Path = path
		}
		return nil, err
	}
	r := &Registry{
		path:    path,
		digest:  sha256.Sum256(data),
		order:   make([]string, 0, len(devs)),
		devices: make(map[string]*entry, len(devs)),
		auth:    newAuthCache(),
	}
	for _, d := range devs {
		if prev, dup := r.devices[d.ID]; dup {
			return nil, &ParseError{Path: path, Line: d.Line, Key: "id",
				Err: fmt.Errorf("duplicate device %q (first on line %d)", d.ID, prev.dev.Line)}
		}
		r.devices[d.ID] = compile(d)
		r.order = append(r.order, d.ID)
	}
	return r, nil
}

func compile(d Device) *entry {
	e := &entry{dev: d}
	for _, f := range d.Publish {
		e.pub = append(e.pub, compileFilter(expand(f, d.ID)))
	}
	for _, f := range d.Subscribe {
		e.sub = append(e.sub, compileFilter(expand(f, d.ID)))
	}
	return e
}

// ValidateID reports whether id can be a registered device ID: a non-empty
// UTF-8 string without '/', '+', '#' (it is substituted into topic filters)
// and without control characters.
func ValidateID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrBadID)
	case len(id) > MaxIDBytes:
		return fmt.Errorf("%w: longer than %d bytes", ErrBadID, MaxIDBytes)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: not valid UTF-8", ErrBadID)
	case strings.ContainsAny(id, "/+#"):
		return fmt.Errorf("%w: %q contains '/', '+' or '#'", ErrBadID, id)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %q contains a control character", ErrBadID, id)
		}
	}
	return nil
}

// ValidateACLFilter checks one publish or subscribe filter as written in
// the registry (with optional {id} placeholders).
func ValidateACLFilter(f string) error {
	if err := checkPlaceholders(f); err != nil {
		return err
	}
	if strings.HasPrefix(f, sharePrefix) {
		return fmt.Errorf("%w: %q: write the inner filter, not a $share/ subscription", ErrBadTopic, f)
	}
	// IDs contain no '/', '+' or '#', so any ID keeps the filter's shape.
	return ValidateFilter(expand(f, "x"))
}

// Path is the file the registry was loaded from ("" for Parse).
func (r *Registry) Path() string { return r.path }

// Digest is the SHA-256 of the bytes the registry was parsed from.
func (r *Registry) Digest() [sha256.Size]byte { return r.digest }

// Len is the number of registered devices.
func (r *Registry) Len() int { return len(r.order) }

// Lookup returns the device registered under id.
func (r *Registry) Lookup(id string) (Device, bool) {
	e, ok := r.devices[id]
	if !ok {
		return Device{}, false
	}
	return e.dev.clone(), true
}

// Devices returns every device in file order.
func (r *Registry) Devices() []Device {
	out := make([]Device, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, r.devices[id].dev.clone())
	}
	return out
}

func (d Device) clone() Device {
	d.Publish = slices.Clone(d.Publish)
	d.Subscribe = slices.Clone(d.Subscribe)
	if d.Labels != nil {
		m := make(map[string]string, len(d.Labels))
		for k, v := range d.Labels {
			m[k] = v
		}
		d.Labels = m
	}
	return d
}

// CanPublish reports whether the enabled device clientID may publish to the
// topic name: it must be a valid topic and match one of the device's publish
// filters ({id} substituted; '+' and '#' never match a leading '$' level).
func (r *Registry) CanPublish(clientID, topic string) bool {
	e, ok := r.devices[clientID]
	if !ok || !e.dev.Enabled || ValidateTopic(topic) != nil {
		return false
	}
	levels := strings.Split(topic, "/")
	for _, f := range e.pub {
		if f.matches(levels) {
			return true
		}
	}
	return false
}

// CanSubscribe reports whether the enabled device clientID may subscribe to
// the filter: allowed only if one of the device's subscribe filters matches
// every topic the requested filter can match. A shared subscription
// ($share/GROUP/FILTER) is judged by its inner filter.
func (r *Registry) CanSubscribe(clientID, subFilter string) bool {
	e, ok := r.devices[clientID]
	if !ok || !e.dev.Enabled {
		return false
	}
	inner, ok := splitShare(subFilter)
	if !ok || ValidateFilter(inner) != nil {
		return false
	}
	levels := strings.Split(inner, "/")
	for _, f := range e.sub {
		if f.covers(levels) {
			return true
		}
	}
	return false
}

package devices

import (
	"errors"
	"fmt"
)

// Authentication outcomes. Authenticate returns exactly one of these (possibly
// wrapped) on failure; classify with errors.Is.
var (
	ErrUnknownDevice = errors.New("devices: unknown device")
	ErrDisabled      = errors.New("devices: device disabled")
	ErrBadPassword   = errors.New("devices: bad password")
	// ErrCertRequired: the device is registered with a client-certificate
	// fingerprint and connected without a matching certificate.
	ErrCertRequired = errors.New("devices: client certificate required")
	ErrBadCert      = errors.New("devices: client certificate does not match")
)

// Registry file problems.
var (
	// ErrInvalid wraps every problem found while parsing a registry; the
	// concrete error is a *ParseError with the line number.
	ErrInvalid = errors.New("devices: invalid registry")
	// ErrTooLarge: the registry file exceeds Limits.MaxFileBytes.
	ErrTooLarge = errors.New("devices: registry file too large")
	// ErrBadTopic: a topic name or filter breaks the MQTT rules.
	ErrBadTopic = errors.New("devices: malformed topic")
	// ErrBadID: a device ID cannot be used as an MQTT client ID here.
	ErrBadID = errors.New("devices: malformed device id")
	// ErrNotFound: an edit names a device the registry does not have.
	ErrNotFound = errors.New("devices: no such device")
	// ErrExists: an edit adds a device whose ID is already registered.
	ErrExists = errors.New("devices: device already registered")
)

// ParseError is one problem in a registry file. Its message is one line:
// "FILE:LINE: KEY: what is wrong".
type ParseError struct {
	Path string // file name, "" when parsing bytes
	Line int    // 1-based; 0 when unknown
	Key  string // the offending key, e.g. "publish", "id"; may be ""
	Err  error
}

func (e *ParseError) Error() string {
	s := "registry"
	if e.Path != "" {
		s = e.Path
	}
	if e.Line > 0 {
		s = fmt.Sprintf("%s:%d", s, e.Line)
	}
	if e.Key != "" {
		s += ": " + e.Key
	}
	return s + ": " + e.Err.Error()
}

// Unwrap lets errors.Is match both ErrInvalid and the specific cause.
func (e *ParseError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

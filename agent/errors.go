package agent

import "errors"

// Errors, classified with errors.Is.
var (
	// ErrConfig is an invalid Config.
	ErrConfig = errors.New("agent: invalid config")
	// ErrFull is returned when the WAL is at its disk quota and the policy
	// is WhenFullBlock (or nothing more can be dropped).
	ErrFull = errors.New("agent: WAL at its disk quota")
	// ErrWALFailed is returned after the WAL failed a write or fsync; the
	// agent refuses publishes until it has reopened the WAL.
	ErrWALFailed = errors.New("agent: WAL failed")
	// ErrClosing is returned for publishes that arrive during shutdown.
	ErrClosing = errors.New("agent: shutting down")
	// ErrInvalidPublish is a publish refused for its content (topic, size).
	ErrInvalidPublish = errors.New("agent: invalid publish")
	// ErrNotAuthorized is a client or topic the device registry refuses.
	ErrNotAuthorized = errors.New("agent: not authorized")
)

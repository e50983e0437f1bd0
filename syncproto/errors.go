package syncproto

import (
	"errors"
	"fmt"
)

// Code is a protocol error code. It travels in Error frames and, unchanged,
// as the QUIC application error code when a connection is closed.
type Code uint64

// Error codes. Values are part of the wire protocol: never renumber.
const (
	CodeNone          Code = 0 // orderly close
	CodeBadVersion    Code = 1 // no protocol version in common
	CodeUnauthorized  Code = 2 // no identity, or Hello names another agent than the certificate
	CodeRevoked       Code = 3 // the agent is on the hub's deny list
	CodeEpochConflict Code = 4 // the hub holds more of this WAL epoch than the agent has
	CodeMalformed     Code = 5 // a frame could not be decoded or broke the protocol
	CodeInternal      Code = 6 // the peer failed; retry later
	CodeShuttingDown  Code = 7 // the peer is stopping; retry later
	CodeSuperseded    Code = 8 // a newer connection of the same agent replaced this one
	CodeTimeout       Code = 9 // no frame from the peer within the liveness timeout
)

var codeNames = map[Code]string{
	CodeNone:          "none",
	CodeBadVersion:    "bad version",
	CodeUnauthorized:  "unauthorized",
	CodeRevoked:       "revoked",
	CodeEpochConflict: "epoch conflict",
	CodeMalformed:     "malformed frame",
	CodeInternal:      "internal error",
	CodeShuttingDown:  "shutting down",
	CodeSuperseded:    "superseded",
	CodeTimeout:       "timeout",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code %d", uint64(c))
}

// Error is a protocol error, local or reported by the peer. Classify with
// errors.Is against the sentinels below (which compare codes only) or
// errors.As for the message.
type Error struct {
	Code    Code
	Message string
	Remote  bool // reported by the peer
}

func (e *Error) Error() string {
	who := ""
	if e.Remote {
		who = "peer: "
	}
	if e.Message == "" {
		return "syncproto: " + who + e.Code.String()
	}
	return "syncproto: " + who + e.Code.String() + ": " + e.Message
}

// Is matches any *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrBadVersion    = &Error{Code: CodeBadVersion}
	ErrUnauthorized  = &Error{Code: CodeUnauthorized}
	ErrRevoked       = &Error{Code: CodeRevoked}
	ErrEpochConflict = &Error{Code: CodeEpochConflict}
	ErrMalformed     = &Error{Code: CodeMalformed}
	ErrInternal      = &Error{Code: CodeInternal}
	ErrShuttingDown  = &Error{Code: CodeShuttingDown}
	ErrSuperseded    = &Error{Code: CodeSuperseded}
	ErrTimeout       = &Error{Code: CodeTimeout}
)

// Errorf returns a local *Error with code c.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// malformed is shorthand for a CodeMalformed error.
func malformed(format string, args ...any) *Error {
	return Errorf(CodeMalformed, format, args...)
}

// CodeOf returns the protocol code carried by err: the code of an *Error in
// its chain, or CodeInternal for any other non-nil error.
func CodeOf(err error) Code {
	if err == nil {
		return CodeNone
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

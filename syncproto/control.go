package syncproto

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Protocol versions. Version1 is the only one so far; see the version
// history in doc.go.
const Version1 uint16 = 1

// SupportedVersions returns the versions this build speaks, newest first.
func SupportedVersions() []uint16 { return []uint16{Version1} }

// Bounds on control frame fields.
const (
	MaxAgentID  = 256  // bytes of an agent ID
	MaxEpoch    = 64   // bytes of a WAL epoch
	MaxMessage  = 1024 // bytes of an Error message
	maxVersions = 16   // versions listed in a Hello
)

// ControlFrame is a frame of the control stream.
type ControlFrame interface {
	Type() FrameType
}

// Hello opens a session: the first frame on the control stream, sent by the
// agent (in 0-RTT data when the agent enables it and the connection
// resumes).
type Hello struct {
	AgentID  string   `cbor:"1,keyasint"`
	Versions []uint16 `cbor:"2,keyasint"` // protocol versions the agent speaks
	Epoch    string   `cbor:"3,keyasint"` // the agent WAL's epoch
	First    uint64   `cbor:"4,keyasint"` // lowest sequence the agent can still send
	Next     uint64   `cbor:"5,keyasint"` // sequence the agent's next record will get
}

// Welcome accepts a Hello.
type Welcome struct {
	Version    uint16 `cbor:"1,keyasint"` // chosen protocol version
	ResumeFrom uint64 `cbor:"2,keyasint"` // first sequence the hub wants
	Limits     Limits `cbor:"3,keyasint"`
}

// ErrorFrame reports a fatal error; the sender closes the connection after
// it with the same code as the QUIC application error code.
type ErrorFrame struct {
	Code    Code   `cbor:"1,keyasint"`
	Message string `cbor:"2,keyasint,omitempty"`
}

// Heartbeat proves liveness on the control stream. The agent's heartbeats
// also report its log, for the hub's status page.
type Heartbeat struct {
	TimeMs int64 `cbor:"1,keyasint"` // sender's clock, Unix milliseconds
	// Agent → hub only (zero from the hub):
	Durable     uint64 `cbor:"2,keyasint,omitempty"` // highest durable sequence in the agent's WAL
	LagBytes    uint64 `cbor:"3,keyasint,omitempty"` // estimated bytes not yet acknowledged
	OldestAgeMs int64  `cbor:"4,keyasint,omitempty"` // age of the oldest unacknowledged record
}

// Ack acknowledges, cumulatively, every sequence up to and including
// Through as durably merged at the hub.
type Ack struct {
	Through uint64 `cbor:"1,keyasint"`
}

func (Hello) Type() FrameType      { return TypeHello }
func (Welcome) Type() FrameType    { return TypeWelcome }
func (ErrorFrame) Type() FrameType { return TypeError }
func (Heartbeat) Type() FrameType  { return TypeHeartbeat }
func (Ack) Type() FrameType        { return TypeAck }

// Err returns the error the frame reports, marked as remote.
func (f ErrorFrame) Err() *Error { return &Error{Code: f.Code, Message: f.Message, Remote: true} }

// EncodeControl returns f as a complete frame (length prefix included).
func EncodeControl(f ControlFrame) ([]byte, error) {
	if err := validateControl(f); err != nil {
		return nil, err
	}
	return encodeFrame(f.Type(), f)
}

// DecodeControl decodes the body of a control frame of type t.
func DecodeControl(t FrameType, body []byte) (ControlFrame, error) {
	switch t {
	case TypeHello:
		return DecodeHello(body)
	case TypeWelcome:
		return DecodeWelcome(body)
	case TypeError:
		return DecodeError(body)
	case TypeHeartbeat:
		return DecodeHeartbeat(body)
	case TypeAck:
		return DecodeAck(body)
	}
	return nil, malformed("%v on the control stream", t)
}

// DecodeHello decodes and validates a Hello body.
func DecodeHello(body []byte) (Hello, error) {
	var h Hello
	if err := decodeBody(TypeHello, body, &h); err != nil {
		return Hello{}, err
	}
	return h, h.validate()
}

// DecodeWelcome decodes and validates a Welcome body.
func DecodeWelcome(body []byte) (Welcome, error) {
	var w Welcome
	if err := decodeBody(TypeWelcome, body, &w); err != nil {
		return Welcome{}, err
	}
	return w, w.validate()
}

// DecodeError decodes and validates an Error body.
func DecodeError(body []byte) (ErrorFrame, error) {
	var e ErrorFrame
	if err := decodeBody(TypeError, body, &e); err != nil {
		return ErrorFrame{}, err
	}
	return e, e.validate()
}

// DecodeHeartbeat decodes a Heartbeat body.
func DecodeHeartbeat(body []byte) (Heartbeat, error) {
	var h Heartbeat
	if err := decodeBody(TypeHeartbeat, body, &h); err != nil {
		return Heartbeat{}, err
	}
	return h, nil
}

// DecodeAck decodes an Ack body.
func DecodeAck(body []byte) (Ack, error) {
	var a Ack
	if err := decodeBody(TypeAck, body, &a); err != nil {
		return Ack{}, err
	}
	return a, nil
}

func validateControl(f ControlFrame) error {
	switch f := f.(type) {
	case Hello:
		return f.validate()
	case Welcome:
		return f.validate()
	case ErrorFrame:
		return f.validate()
	case Heartbeat, Ack:
		return nil
	}
	return fmt.Errorf("syncproto: unknown control frame %T", f)
}

func (h Hello) validate() error {
	switch {
	case h.AgentID == "" || len(h.AgentID) > MaxAgentID:
		return malformed("Hello: agent ID of %d bytes", len(h.AgentID))
	case !utf8.ValidString(h.AgentID):
		return malformed("Hello: agent ID is not UTF-8")
	case len(h.Versions) == 0 || len(h.Versions) > maxVersions:
		return malformed("Hello: %d versions", len(h.Versions))
	case h.Epoch == "" || len(h.Epoch) > MaxEpoch:
		return malformed("Hello: epoch of %d bytes", len(h.Epoch))
	case h.First == 0 || h.Next < h.First:
		return malformed("Hello: log range [%d, %d)", h.First, h.Next)
	}
	return nil
}

func (w Welcome) validate() error {
	if w.Version == 0 {
		return malformed("Welcome: version 0")
	}
	if w.ResumeFrom == 0 {
		return malformed("Welcome: resume from 0")
	}
	return w.Limits.check()
}

func (e ErrorFrame) validate() error {
	if len(e.Message) > MaxMessage {
		return malformed("Error: message of %d bytes", len(e.Message))
	}
	return nil
}

// NewErrorFrame builds the Error frame reporting err, its message cut to
// MaxMessage bytes.
func NewErrorFrame(err error) ErrorFrame {
	f := ErrorFrame{Code: CodeOf(err)}
	var e *Error
	if errors.As(err, &e) {
		f.Message = e.Message
	} else if err != nil {
		f.Message = err.Error()
	}
	if len(f.Message) > MaxMessage {
		f.Message = f.Message[:MaxMessage]
		for !utf8.ValidString(f.Message) {
			f.Message = f.Message[:len(f.Message)-1]
		}
	}
	return f
}

// HeartbeatNow returns a Heartbeat stamped with t.
func HeartbeatNow(t time.Time) Heartbeat { return Heartbeat{TimeMs: t.UnixMilli()} }

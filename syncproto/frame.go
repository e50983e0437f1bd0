package syncproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// FrameType is the byte after a frame's length prefix.
type FrameType uint8

// Frame types. Values are part of the wire protocol: never renumber.
const (
	TypeHello     FrameType = 1 // control, agent → hub, first frame
	TypeWelcome   FrameType = 2 // control, hub → agent, answer to Hello
	TypeError     FrameType = 3 // control, either way, last frame
	TypeHeartbeat FrameType = 4 // control, either way
	TypeAck       FrameType = 5 // control, hub → agent
	TypeBatch     FrameType = 6 // data stream, agent → hub
)

func (t FrameType) String() string {
	switch t {
	case TypeHello:
		return "Hello"
	case TypeWelcome:
		return "Welcome"
	case TypeError:
		return "Error"
	case TypeHeartbeat:
		return "Heartbeat"
	case TypeAck:
		return "Ack"
	case TypeBatch:
		return "Batch"
	}
	return fmt.Sprintf("frame type %d", uint8(t))
}

// FrameHeaderSize is the length prefix plus the type byte.
const FrameHeaderSize = 5

// MaxControlFrame bounds a control-stream frame (type byte and body).
const MaxControlFrame = 64 << 10

// AppendFrame appends a frame of type t with the given body to dst.
func AppendFrame(dst []byte, t FrameType, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(1+len(body)))
	dst = append(dst, byte(t))
	return append(dst, body...)
}

// ReadFrame reads one frame from r. A length of zero or above max is refused
// before anything is allocated. The returned body is freshly allocated and
// owned by the caller. io.EOF means r ended cleanly between frames.
func ReadFrame(r io.Reader, max int) (FrameType, []byte, error) {
	var hdr [FrameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 || int64(n) > int64(max) {
		return 0, nil, malformed("frame length %d (limit %d)", n, max)
	}
	if _, err := io.ReadFull(r, hdr[4:5]); err != nil {
		return 0, nil, unexpectedEOF(err)
	}
	body := make([]byte, n-1)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, unexpectedEOF(err)
	}
	return FrameType(hdr[4]), body, nil
}

// SplitFrame parses one frame at the head of b, the same way ReadFrame does,
// and returns its type, its body (aliasing b) and the bytes after it.
func SplitFrame(b []byte, max int) (FrameType, []byte, []byte, error) {
	if len(b) < FrameHeaderSize {
		return 0, nil, nil, malformed("short frame header")
	}
	n := binary.BigEndian.Uint32(b)
	if n == 0 || int64(n) > int64(max) {
		return 0, nil, nil, malformed("frame length %d (limit %d)", n, max)
	}
	if int64(len(b)-4) < int64(n) {
		return 0, nil, nil, malformed("frame length %d past the data", n)
	}
	end := 4 + int(n)
	return FrameType(b[4]), b[5:end], b[end:], nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// CBOR modes shared by every frame. Decoding forbids indefinite lengths and
// tags, rejects duplicate keys and invalid UTF-8, and bounds nesting and
// container sizes; frame bodies are already bounded by the frame limit.
var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		MaxNestedLevels:  4,
		MaxArrayElements: maxVersions,
		MaxMapPairs:      32,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		UTF8:             cbor.UTF8RejectInvalid,
		IntDec:           cbor.IntDecConvertNone,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// encodeFrame marshals v as the body of a frame of type t.
func encodeFrame(t FrameType, v any) ([]byte, error) {
	body, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("syncproto: encode %v: %w", t, err)
	}
	return AppendFrame(make([]byte, 0, FrameHeaderSize+len(body)), t, body), nil
}

// decodeBody unmarshals a whole frame body into v.
func decodeBody(t FrameType, body []byte, v any) error {
	if len(body) > MaxControlFrame {
		return malformed("%v body of %d bytes", t, len(body))
	}
	if err := decMode.Unmarshal(body, v); err != nil {
		return malformed("%v: %v", t, err)
	}
	return nil
}

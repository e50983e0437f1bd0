package syncproto

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestControlRoundTrip(t *testing.T) {
	frames := []ControlFrame{
		Hello{AgentID: "gw-1", Versions: []uint16{1}, Epoch: "e1", First: 1, Next: 10},
		Welcome{Version: 1, ResumeFrom: 5, Limits: Limits{}.WithDefaults()},
		ErrorFrame{Code: CodeRevoked, Message: "agent gw-1 is revoked"},
		Heartbeat{TimeMs: 1700000000000, Durable: 9, LagBytes: 1234, OldestAgeMs: 50},
		Heartbeat{TimeMs: 1},
		Ack{Through: 1 << 40},
	}
	var stream bytes.Buffer
	for _, f := range frames {
		b, err := EncodeControl(f)
		if err != nil {
			t.Fatalf("encode %T: %v", f, err)
		}
		stream.Write(b)
	}
	for _, want := range frames {
		typ, body, err := ReadFrame(&stream, MaxControlFrame)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeControl(typ, body)
		if err != nil {
			t.Fatalf("decode %v: %v", typ, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip: got %+v, want %+v", got, want)
		}
	}
	if _, _, err := ReadFrame(&stream, MaxControlFrame); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	bad := []ControlFrame{
		Hello{AgentID: "", Versions: []uint16{1}, Epoch: "e", First: 1, Next: 1},
		Hello{AgentID: "a", Epoch: "e", First: 1, Next: 1},
		Hello{AgentID: "a", Versions: []uint16{1}, First: 1, Next: 1},
		Hello{AgentID: "a", Versions: []uint16{1}, Epoch: "e", First: 0, Next: 1},
		Hello{AgentID: "a", Versions: []uint16{1}, Epoch: "e", First: 5, Next: 4},
		Hello{AgentID: strings.Repeat("a", MaxAgentID+1), Versions: []uint16{1}, Epoch: "e", First: 1, Next: 1},
		Welcome{Version: 0, ResumeFrom: 1, Limits: Limits{}.WithDefaults()},
		Welcome{Version: 1, ResumeFrom: 1},
		Welcome{Version: 1, ResumeFrom: 1, Limits: Limits{MaxBatchBytes: HardMaxBatchBytes + 1}.WithDefaults()},
		ErrorFrame{Code: CodeInternal, Message: strings.Repeat("x", MaxMessage+1)},
	}
	for _, f := range bad {
		if _, err := EncodeControl(f); !errors.Is(err, ErrMalformed) {
			t.Errorf("EncodeControl(%+v) = %v, want ErrMalformed", f, err)
		}
	}
}

// cborHello builds Hello bodies by hand to reach decoder paths an encoder
// never produces.
func TestDecodeMalformed(t *testing.T) {
	good, _ := EncodeControl(Hello{AgentID: "gw", Versions: []uint16{1}, Epoch: "e", First: 1, Next: 1})
	cases := []struct {
		name string
		typ  FrameType
		body []byte
	}{
		{"empty body", TypeHello, nil},
		{"not a map", TypeHello, []byte{0x83, 1, 2, 3}},
		{"truncated", TypeHello, good[5 : len(good)-2]},
		{"trailing bytes", TypeHello, append(append([]byte{}, good[5:]...), 0)},
		{"duplicate key", TypeAck, []byte{0xa2, 0x01, 0x01, 0x01, 0x02}},
		{"indefinite map", TypeAck, []byte{0xbf, 0x01, 0x01, 0xff}},
		{"tag", TypeAck, []byte{0xa1, 0x01, 0xc1, 0x01}},
		{"negative seq", TypeAck, []byte{0xa1, 0x01, 0x20}},
		{"wrong field type", TypeAck, []byte{0xa1, 0x01, 0x61, 'x'}},
		{"invalid utf8", TypeError, []byte{0xa2, 0x01, 0x01, 0x02, 0x61, 0xff}},
		{"deep nesting", TypeWelcome, []byte{0xa1, 0x03, 0xa1, 0x01, 0x81, 0x81, 0x81, 0x81, 0x81, 0x01}},
		{"unknown type", FrameType(99), []byte{0xa0}},
		{"batch on control", TypeBatch, []byte{0xa0}},
		{"welcome zero limits", TypeWelcome, []byte{0xa2, 0x01, 0x01, 0x02, 0x01}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := DecodeControl(c.typ, c.body); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestReadFrameLimits(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"zero length", []byte{0, 0, 0, 0, 1}, ErrMalformed},
		{"over cap", []byte{0, 1, 0, 1, 1}, ErrMalformed},
		{"huge", []byte{0xff, 0xff, 0xff, 0xff}, ErrMalformed},
		{"short header", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"no type", []byte{0, 0, 0, 2}, io.ErrUnexpectedEOF},
		{"short body", []byte{0, 0, 0, 3, 1, 0}, io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := ReadFrame(bytes.NewReader(c.in), MaxControlFrame)
			if !errors.Is(err, c.want) {
				t.Fatalf("ReadFrame: %v, want %v", err, c.want)
			}
			if c.want == ErrMalformed {
				if _, _, _, err := SplitFrame(c.in, MaxControlFrame); !errors.Is(err, ErrMalformed) {
					t.Fatalf("SplitFrame: %v, want ErrMalformed", err)
				}
			}
		})
	}
}

func TestErrorClassification(t *testing.T) {
	e := ErrorFrame{Code: CodeRevoked, Message: "gone"}.Err()
	if !errors.Is(e, ErrRevoked) || errors.Is(e, ErrUnauthorized) || !e.Remote {
		t.Fatalf("classification of %v", e)
	}
	if CodeOf(errors.New("x")) != CodeInternal || CodeOf(nil) != CodeNone || CodeOf(e) != CodeRevoked {
		t.Fatal("CodeOf")
	}
	long := NewErrorFrame(errors.New(strings.Repeat("é", MaxMessage)))
	if _, err := EncodeControl(long); err != nil {
		t.Fatalf("a long error message must be cut to fit: %v", err)
	}
	if !strings.Contains(Code(77).String(), "77") {
		t.Fatal("unknown code name")
	}
}

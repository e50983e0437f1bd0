package syncproto

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// Every decoder of frame bytes has a fuzz target. Each one checks that
// decoding never panics, that failures are classified as malformed, and that
// whatever decodes re-encodes to something that decodes the same.

func seedControl(f *testing.F, frames ...ControlFrame) {
	for _, fr := range frames {
		b, err := EncodeControl(fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[FrameHeaderSize:])
	}
	f.Add([]byte{0xa0})
	f.Add([]byte{0xbf, 0xff})
}

func fuzzControl[T ControlFrame](f *testing.F, decode func([]byte) (T, error), seeds ...ControlFrame) {
	seedControl(f, seeds...)
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := decode(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		b, err := EncodeControl(v)
		if err != nil {
			t.Fatalf("decoded %+v does not re-encode: %v", v, err)
		}
		again, err := decode(b[FrameHeaderSize:])
		if err != nil || !reflect.DeepEqual(normalize(again), normalize(v)) {
			t.Fatalf("re-decode: %+v %v, want %+v", again, err, v)
		}
	})
}

// normalize makes empty and nil slices compare equal.
func normalize(v ControlFrame) ControlFrame {
	if h, ok := v.(Hello); ok && len(h.Versions) == 0 {
		h.Versions = nil
		return h
	}
	return v
}

func FuzzDecodeHello(f *testing.F) {
	fuzzControl(f, DecodeHello, Hello{AgentID: "gw-1", Versions: []uint16{1, 2}, Epoch: "abc", First: 3, Next: 9})
}

func FuzzDecodeWelcome(f *testing.F) {
	fuzzControl(f, DecodeWelcome, Welcome{Version: 1, ResumeFrom: 7, Limits: Limits{}.WithDefaults()})
}

func FuzzDecodeError(f *testing.F) {
	fuzzControl(f, DecodeError, ErrorFrame{Code: CodeRevoked, Message: "revoked"})
}

func FuzzDecodeHeartbeat(f *testing.F) {
	fuzzControl(f, DecodeHeartbeat, Heartbeat{TimeMs: 5, Durable: 7, LagBytes: 9, OldestAgeMs: 11})
}

func FuzzDecodeAck(f *testing.F) {
	fuzzControl(f, DecodeAck, Ack{Through: 77})
}

// FuzzReadFrame feeds arbitrary streams to the frame reader and the
// control decoder, as a hub or agent control loop would.
func FuzzReadFrame(f *testing.F) {
	for _, fr := range []ControlFrame{hello(1, 2), Ack{Through: 3}, Heartbeat{TimeMs: 1}} {
		b, _ := EncodeControl(fr)
		f.Add(b)
	}
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			typ, body, err := ReadFrame(r, MaxControlFrame)
			if err != nil {
				return
			}
			if len(body) >= MaxControlFrame {
				t.Fatalf("body of %d bytes over the cap", len(body))
			}
			_, _ = DecodeControl(typ, body)
		}
	})
}

// FuzzDecodeBatch decodes arbitrary Batch bodies under small limits: a
// decoded batch must respect them, and re-encoding its records must give
// the same records back.
func FuzzDecodeBatch(f *testing.F) {
	l := Limits{MaxBatchBytes: 4096, MaxBatchRecords: 64, MaxRecordBytes: 8192}
	comp, err := NewCompressor()
	if err != nil {
		f.Fatal(err)
	}
	defer comp.Close()
	dec, err := NewBatchDecoder(l)
	if err != nil {
		f.Fatal(err)
	}
	defer dec.Close()
	for _, recs := range [][][]byte{
		{[]byte("a")},
		{[]byte("hello"), {}, bytes.Repeat([]byte("x"), 300)},
		{bytes.Repeat([]byte("ab"), 1000), bytes.Repeat([]byte("ab"), 1000)},
	} {
		for _, c := range []*Compressor{nil, comp} {
			frame, _ := buildBatch(f, l, 5, recs, c)
			f.Add(frame[FrameHeaderSize:])
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := dec.Decode(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if len(b.Records) == 0 || len(b.Records) > l.MaxBatchRecords || b.First == 0 {
			t.Fatalf("batch outside limits: %d records from %d", len(b.Records), b.First)
		}
		frame, info := buildBatch(t, l, b.First, b.Records, nil)
		if info.RawBytes > b.RawBytes {
			t.Fatalf("re-encoded list of %d bytes, decoded from %d", info.RawBytes, b.RawBytes)
		}
		again, err := decodeFrame(t, dec, frame)
		if err != nil || len(again.Records) != len(b.Records) {
			t.Fatalf("re-decode: %v", err)
		}
		for i := range b.Records {
			if !bytes.Equal(again.Records[i], b.Records[i]) {
				t.Fatalf("record %d changed", i)
			}
		}
	})
}

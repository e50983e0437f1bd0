package record

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sample() Record {
	return Record{
		TimeMs: 1764000000123, ClientID: "dev-1", Topic: "telemetry/dev-1/temp", QoS: 1,
		Retain: true, ContentType: "application/json",
		UserProps: []Property{{Key: "site", Value: "plant-7"}, {Key: "site", Value: "dup keys keep order"}},
		Payload:   []byte(`{"t":21.5}`), PacketID: 4242,
	}
}

func TestRoundTrip(t *testing.T) {
	for _, r := range []Record{sample(), {Topic: "a", Payload: []byte{}}, {Topic: "b", Payload: bytes.Repeat([]byte{0, 0xff}, 5000)}} {
		b, err := Encode(&r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip changed the record:\n got %+v\nwant %+v", got, r)
		}
	}
}

// TestVersion1Testdata pins the version 1 encoding: a newer binary must
// still read records written by this one.
func TestVersion1Testdata(t *testing.T) {
	path := filepath.Join("testdata", "v1.cbor")
	r := sample()
	if os.Getenv("EDGELOG_WRITE_TESTDATA") != "" {
		b, err := Encode(&r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("v1 testdata decodes to %+v", got)
	}
}

func TestMalformedIsRefused(t *testing.T) {
	good, err := Encode(ptr(sample()))
	if err != nil {
		t.Fatal(err)
	}
	v2 := append([]byte{}, good...)
	v2[1] = 2
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrInvalid},
		{"not an array", []byte{0xa0, 0x01}, ErrInvalid},
		{"unknown version", v2, ErrVersion},
		{"truncated", good[:len(good)-3], ErrInvalid},
		{"trailing bytes", append(append([]byte{}, good...), 0), ErrInvalid},
		{"huge declared byte string", []byte{0x8a, 0x01, 0x00, 0x60, 0x61, 'a', 0x00, 0xf4, 0x60, 0x80, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ErrInvalid},
		{"qos 3", mustEncodeRaw(t, wireV1{Version: 1, Topic: "a", QoS: 3}), ErrInvalid},
		{"empty topic", mustEncodeRaw(t, wireV1{Version: 1}), ErrInvalid},
		{"too many user props", mustEncodeRaw(t, wireV1{Version: 1, Topic: "a", UserProps: make([]Property, MaxUserProps+1)}), ErrInvalid},
		{"long topic", mustEncodeRaw(t, wireV1{Version: 1, Topic: strings.Repeat("a", MaxTopic+1)}), ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode = %v, want %v", err, c.want)
			}
		})
	}
}

func TestEncodeRefusesWhatDecodeWould(t *testing.T) {
	r := sample()
	r.Topic = ""
	if _, err := Encode(&r); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Encode of an empty topic = %v", err)
	}
	r = sample()
	r.ClientID = "\xff"
	if _, err := Encode(&r); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Encode of a non-UTF-8 client ID = %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := Encode(ptr(sample()))
	f.Add(good)
	f.Add([]byte{0x8a, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			return
		}
		// Anything accepted re-encodes and decodes to the same record.
		again, err := Encode(&r)
		if err != nil {
			t.Fatalf("decoded record does not re-encode: %v", err)
		}
		r2, err := Decode(again)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-decode differs: %v", err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func mustEncodeRaw(t *testing.T, w wireV1) []byte {
	t.Helper()
	b, err := encMode.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

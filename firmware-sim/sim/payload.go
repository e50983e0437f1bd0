package sim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// Header identifies a simulated message inside its payload, in every format:
// the device's ID (JSON and CBOR only), its per-device sequence number
// (1, 2, … in sampling order; a retry repeats it) and the device's clock.
type Header struct {
	ID     string `json:"id" cbor:"id"`
	Seq    uint64 `json:"seq" cbor:"seq"`
	TimeMs int64  `json:"ts" cbor:"ts"`
}

// ErrPayload: DecodeHeader was given bytes that are not a simulator payload.
var ErrPayload = errors.New("sim: not a simulator payload")

// Binary format: magic, version, stream code, seq (u64 BE), ts (i64 BE),
// then the reading (big-endian, see appendBinary), then padding.
const (
	binMagic      = 0xE1
	binVersion    = 1
	binHeaderSize = 3 + 8 + 8
)

// streamCode numbers the streams in the binary format.
func streamCode(s string) byte {
	switch s {
	case StreamEnv:
		return 1
	case StreamCounter:
		return 2
	case StreamGPS:
		return 3
	}
	return 4 // log
}

// encodePayload renders one reading with its header in format.
func encodePayload(format string, h Header, stream string, reading any, pad int) ([]byte, error) {
	if format == FormatBinary {
		return appendBinary(h, stream, reading, pad), nil
	}
	doc := struct {
		Header
		Reading any    `json:"data" cbor:"data"`
		Pad     string `json:"pad,omitempty" cbor:"pad,omitempty"`
	}{h, reading, strings.Repeat("x", pad)}
	if format == FormatCBOR {
		return cbor.Marshal(doc)
	}
	return json.Marshal(doc)
}

func appendBinary(h Header, stream string, reading any, pad int) []byte {
	b := make([]byte, 0, binHeaderSize+64+pad)
	b = append(b, binMagic, binVersion, streamCode(stream))
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(h.TimeMs))
	f32 := func(b []byte, v float64) []byte {
		return binary.BigEndian.AppendUint32(b, math.Float32bits(float32(v)))
	}
	switch r := reading.(type) {
	case envReading:
		b = f32(f32(f32(b, r.TempC), r.Humidity), r.PressureHPa)
	case counterReading:
		b = binary.BigEndian.AppendUint64(b, r.Count)
		b = binary.BigEndian.AppendUint32(b, uint32(r.Uptime))
	case gpsReading:
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(r.Lat))
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(r.Lon))
		b = append(f32(f32(b, r.SpeedKmh), r.Heading), r.Sats)
	case logReading:
		lvl := map[string]byte{levelDebug: 0, levelInfo: 1, levelWarn: 2, levelError: 3}[r.Level]
		b = append(b, lvl)
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.Msg)))
		b = append(b, r.Msg...)
	}
	return append(b, bytes.Repeat([]byte{0}, pad)...)
}

// maxHeaderInput bounds what DecodeHeader parses of a JSON or CBOR payload.
const maxHeaderInput = 32 << 20

// cborHeaderMode decodes only the header fields, with small nesting and
// size limits, ignoring everything else.
func cborHeaderMode() (cbor.DecMode, error) {
	return cbor.DecOptions{MaxNestedLevels: 8, MaxArrayElements: 1024, MaxMapPairs: 64}.DecMode()
}

// DecodeHeader extracts the header of a payload the simulator produced, in
// any of its formats. It never allocates much beyond the input and rejects
// anything else with ErrPayload.
func DecodeHeader(payload []byte) (Header, error) {
	var h Header
	switch {
	case len(payload) == 0:
		return h, fmt.Errorf("%w: empty", ErrPayload)
	case len(payload) > maxHeaderInput:
		return h, fmt.Errorf("%w: %d bytes", ErrPayload, len(payload))
	case payload[0] == binMagic:
		if len(payload) < binHeaderSize || payload[1] != binVersion || payload[2] < 1 || payload[2] > 4 {
			return h, fmt.Errorf("%w: bad binary header", ErrPayload)
		}
		h.Seq = binary.BigEndian.Uint64(payload[3:])
		h.TimeMs = int64(binary.BigEndian.Uint64(payload[11:]))
	case payload[0] == '{':
		if err := json.Unmarshal(payload, &h); err != nil {
			return Header{}, fmt.Errorf("%w: %v", ErrPayload, err)
		}
	case payload[0]>>5 == 5: // CBOR major type 5: map
		dm, err := cborHeaderMode()
		if err != nil {
			return h, err
		}
		if err := dm.Unmarshal(payload, &h); err != nil {
			return Header{}, fmt.Errorf("%w: %v", ErrPayload, err)
		}
	default:
		return h, fmt.Errorf("%w: unknown format (first byte %#x)", ErrPayload, payload[0])
	}
	if h.Seq == 0 {
		return Header{}, fmt.Errorf("%w: no sequence number", ErrPayload)
	}
	return h, nil
}

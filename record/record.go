package record

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// Version is the format version Encode writes.
const Version = 1

// Limits bound a decoded record. They match the MQTT limits the agent
// enforces, with headroom; a record outside them is refused, not truncated.
const (
	MaxClientID    = 256
	MaxTopic       = 4096
	MaxContentType = 256
	MaxUserProps   = 64
	MaxPropLen     = 1024
	MaxPayload     = 16 << 20
	// MaxEncoded bounds a whole encoded record.
	MaxEncoded = MaxPayload + 256<<10
)

// Errors, classified with errors.Is.
var (
	ErrVersion = errors.New("record: unknown format version")
	ErrInvalid = errors.New("record: invalid record")
)

// Property is one MQTT 5 user property.
type Property struct {
	_     struct{} `cbor:",toarray"`
	Key   string
	Value string
}

// Record is one accepted MQTT publish as the agent received it.
type Record struct {
	TimeMs      int64 // agent receive time, Unix milliseconds
	ClientID    string
	Topic       string
	QoS         byte
	Retain      bool
	ContentType string
	UserProps   []Property
	Payload     []byte
	// PacketID is the MQTT packet identifier of a QoS 1/2 publish (0 for
	// QoS 0). With ClientID it lets the agent recognise a device's
	// retransmission of a publish it stored but never acknowledged.
	PacketID uint16
}

// wireV1 is the version 1 layout; field order is the format.
type wireV1 struct {
	_           struct{} `cbor:",toarray"`
	Version     uint8
	TimeMs      int64
	ClientID    string
	Topic       string
	QoS         uint8
	Retain      bool
	ContentType string
	UserProps   []Property
	Payload     []byte
	PacketID    uint16
}

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
		MaxArrayElements: MaxUserProps + 16,
		MaxMapPairs:      16,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Validate reports whether r is within Limits.
func (r *Record) Validate() error {
	switch {
	case len(r.ClientID) > MaxClientID:
		return fmt.Errorf("%w: client ID of %d bytes (limit %d)", ErrInvalid, len(r.ClientID), MaxClientID)
	case len(r.Topic) == 0:
		return fmt.Errorf("%w: empty topic", ErrInvalid)
	case len(r.Topic) > MaxTopic:
		return fmt.Errorf("%w: topic of %d bytes (limit %d)", ErrInvalid, len(r.Topic), MaxTopic)
	case r.QoS > 2:
		return fmt.Errorf("%w: qos %d", ErrInvalid, r.QoS)
	case len(r.ContentType) > MaxContentType:
		return fmt.Errorf("%w: content type of %d bytes", ErrInvalid, len(r.ContentType))
	case len(r.UserProps) > MaxUserProps:
		return fmt.Errorf("%w: %d user properties (limit %d)", ErrInvalid, len(r.UserProps), MaxUserProps)
	case len(r.Payload) > MaxPayload:
		return fmt.Errorf("%w: payload of %d bytes (limit %d)", ErrInvalid, len(r.Payload), MaxPayload)
	}
	for _, s := range []string{r.ClientID, r.Topic, r.ContentType} {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%w: string is not UTF-8", ErrInvalid)
		}
	}
	for _, p := range r.UserProps {
		if len(p.Key) > MaxPropLen || len(p.Value) > MaxPropLen {
			return fmt.Errorf("%w: user property over %d bytes", ErrInvalid, MaxPropLen)
		}
		if !utf8.ValidString(p.Key) || !utf8.ValidString(p.Value) {
			return fmt.Errorf("%w: user property is not UTF-8", ErrInvalid)
		}
	}
	return nil
}

// Encode returns r in the current format.
func Encode(r *Record) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return encMode.Marshal(wireV1{
		Version: Version, TimeMs: r.TimeMs, ClientID: r.ClientID, Topic: r.Topic,
		QoS: r.QoS, Retain: r.Retain, ContentType: r.ContentType,
		UserProps: r.UserProps, Payload: r.Payload, PacketID: r.PacketID,
	})
}

// Decode parses an encoded record of any known version. The returned
// record does not alias b.
func Decode(b []byte) (Record, error) {
	if len(b) > MaxEncoded {
		return Record{}, fmt.Errorf("%w: %d bytes (limit %d)", ErrInvalid, len(b), MaxEncoded)
	}
	v, err := peekVersion(b)
	if err != nil {
		return Record{}, err
	}
	if v != 1 {
		return Record{}, fmt.Errorf("%w: %d", ErrVersion, v)
	}
	var w wireV1
	if err := decMode.Unmarshal(b, &w); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	r := Record{
		TimeMs: w.TimeMs, ClientID: w.ClientID, Topic: w.Topic, QoS: w.QoS,
		Retain: w.Retain, ContentType: w.ContentType, UserProps: w.UserProps, Payload: w.Payload,
		PacketID: w.PacketID,
	}
	if r.Payload == nil {
		r.Payload = []byte{}
	}
	if err := r.Validate(); err != nil {
		return Record{}, err
	}
	return r, nil
}

// peekVersion reads the version from the head of an encoded record: a CBOR
// array header (major type 4) followed by a small unsigned integer.
func peekVersion(b []byte) (uint64, error) {
	if len(b) < 2 || b[0]>>5 != 4 {
		return 0, fmt.Errorf("%w: not a CBOR array", ErrInvalid)
	}
	i := 1
	switch info := b[0] & 0x1f; {
	case info < 24:
	case info == 24:
		i = 2
	case info == 25:
		i = 3
	default:
		return 0, fmt.Errorf("%w: array header", ErrInvalid)
	}
	if len(b) <= i {
		return 0, fmt.Errorf("%w: truncated", ErrInvalid)
	}
	v := b[i]
	if v>>5 != 0 || v&0x1f >= 24 {
		return 0, fmt.Errorf("%w: version is not a small unsigned integer", ErrInvalid)
	}
	return uint64(v & 0x1f), nil
}

package mqttc

import (
	"bytes"
	"errors"
	"strconv"
	"time"
)

// ErrPayload is returned for a payload that Payload did not make.
var ErrPayload = errors.New("mqttc: not a benchmark payload")

// Stamp identifies one benchmark message.
type Stamp struct {
	Client int       // index of the publishing client
	Seq    int       // the client's sequence number, from 0
	Sent   time.Time // when the publisher handed it to the socket (ns)
}

// Payload returns a payload of size bytes (at least the header's length)
// carrying s: "B<client>:<seq>:<unix ns>|" then filler.
func Payload(s Stamp, size int) []byte {
	b := make([]byte, 0, max(size, 48))
	b = append(b, 'B')
	b = strconv.AppendInt(b, int64(s.Client), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(s.Seq), 10)
	b = append(b, ':')
	var ns int64
	if !s.Sent.IsZero() {
		ns = s.Sent.UnixNano()
	}
	b = strconv.AppendInt(b, ns, 10)
	b = append(b, '|')
	for len(b) < size {
		b = append(b, 'x')
	}
	return b
}

// ParsePayload reads the stamp from a payload made by Payload.
func ParsePayload(b []byte) (Stamp, error) {
	end := bytes.IndexByte(b, '|')
	if len(b) < 2 || b[0] != 'B' || end < 0 {
		return Stamp{}, ErrPayload
	}
	parts := bytes.Split(b[1:end], []byte{':'})
	if len(parts) != 3 {
		return Stamp{}, ErrPayload
	}
	var n [3]int64
	for i, p := range parts {
		v, err := strconv.ParseInt(string(p), 10, 64)
		if err != nil || v < 0 {
			return Stamp{}, ErrPayload
		}
		n[i] = v
	}
	return Stamp{Client: int(n[0]), Seq: int(n[1]), Sent: time.Unix(0, n[2])}, nil
}

// Key is a message's identity without its time, for set arithmetic.
type Key struct{ Client, Seq int }

// Key returns s's identity.
func (s Stamp) Key() Key { return Key{s.Client, s.Seq} }

package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Framing errors. Any of them closes the connection that sent the frame,
// and only that one.
var (
	ErrFrameTooLarge = errors.New("kafka: request frame over the size limit")
	ErrBadFrame      = errors.New("kafka: malformed request")
)

// frameChunk is how much a frame buffer grows per read: memory follows the
// bytes actually received, not the size a peer declares.
const frameChunk = 64 << 10

// readFrame reads one size-prefixed request frame of at most max bytes.
func readFrame(r io.Reader, max int32) ([]byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(sz[:]))
	if n < 8 {
		return nil, fmt.Errorf("%w: frame of %d bytes", ErrBadFrame, n)
	}
	if n > max {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrFrameTooLarge, n, max)
	}
	size := int(n)
	buf := make([]byte, 0, min(size, frameChunk))
	for len(buf) < size {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(size-len(buf), cap(buf))) // doubling, up to size
		}
		m, err := r.Read(buf[len(buf):min(cap(buf), size)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < size {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// header is a parsed request header (v1, or v2 for flexible requests).
type header struct {
	key, version  int16
	correlationID int32
	clientID      string
	flexible      bool
}

// parseHeader parses the request header at the start of a frame and
// returns it with the body. An unknown API key or version is not an error
// here: req is nil then, and the caller answers it.
func parseHeader(frame []byte) (h header, req kmsg.Request, body []byte, err error) {
	r := kbin.Reader{Src: frame}
	h.key = r.Int16()
	h.version = r.Int16()
	h.correlationID = r.Int32()
	if cid := r.NullableString(); cid != nil {
		h.clientID = *cid
	}
	if err := r.Complete(); err != nil {
		return h, nil, nil, fmt.Errorf("%w: header: %v", ErrBadFrame, err)
	}
	req = kmsg.RequestForKey(h.key)
	if req == nil || h.version < 0 || h.version > req.MaxVersion() {
		return h, nil, r.Src, nil
	}
	req.SetVersion(h.version)
	h.flexible = req.IsFlexible()
	if h.flexible {
		kmsg.SkipTags(&r)
		if err := r.Complete(); err != nil {
			return h, nil, nil, fmt.Errorf("%w: header tags: %v", ErrBadFrame, err)
		}
	}
	return h, req, r.Src, nil
}

// appendResponse frames a response body: size, correlation ID, the empty
// tag section of a flexible response header (never for ApiVersions, whose
// response header is always v0), then the body.
func appendResponse(dst []byte, h header, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.correlationID))
	if h.flexible && h.key != apiVersionsKey {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// appendErrorFrame frames the bare answer to a request the hub cannot
// decode (unknown API key or version): the correlation ID and an error
// code, after which the connection is closed.
func appendErrorFrame(dst []byte, h header, code int16) []byte {
	dst = binary.BigEndian.AppendUint32(dst, 6)
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.correlationID))
	return binary.BigEndian.AppendUint16(dst, uint16(code))
}

// Produce request bounds checked before kmsg decodes (and allocates for)
// the request: decoding allocates every array up front, so the counts must
// be sane for the frame's size.
const (
	maxProduceTopics     = 10000
	maxProducePartitions = 100000
)

// checkProduceShape walks a Produce request body without allocating and
// rejects one whose arrays are larger than the limits (or malformed).
func checkProduceShape(body []byte, version int16, flexible bool) error {
	r := kbin.Reader{Src: body}
	str := func() {
		if flexible {
			r.CompactNullableString()
		} else {
			r.NullableString()
		}
	}
	arr := func() int32 {
		if flexible {
			return r.CompactArrayLen()
		}
		return r.ArrayLen()
	}
	if version >= 3 {
		str() // transactional ID
	}
	r.Int16() // acks
	r.Int32() // timeout
	nt := arr()
	if nt > maxProduceTopics {
		return fmt.Errorf("%w: %d topics in a produce request", ErrBadFrame, nt)
	}
	parts := 0
	for i := int32(0); i < nt && r.Ok(); i++ {
		str() // topic
		np := arr()
		parts += int(np)
		if parts > maxProducePartitions {
			return fmt.Errorf("%w: over %d partitions in a produce request", ErrBadFrame, maxProducePartitions)
		}
		for j := int32(0); j < np && r.Ok(); j++ {
			r.Int32() // partition
			if flexible {
				r.CompactNullableBytes()
				kmsg.SkipTags(&r)
			} else {
				r.NullableBytes()
			}
		}
		if flexible {
			kmsg.SkipTags(&r)
		}
	}
	if err := r.Complete(); err != nil {
		return fmt.Errorf("%w: produce: %v", ErrBadFrame, err)
	}
	return nil
}

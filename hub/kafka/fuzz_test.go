package kafka

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzRequestFrame feeds arbitrary frames to the request decoder and, when
// they decode, re-encodes the request and decodes it again. Nothing may
// panic; errors must be classified.
func FuzzRequestFrame(f *testing.F) {
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	seed := func(req kmsg.Request, version int16) {
		req.SetVersion(version)
		frame := formatter.AppendRequest(nil, req, 7)
		f.Add(frame[4:])
	}
	md := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	name := "telemetry"
	t.Topic = &name
	md.Topics = append(md.Topics, t)
	seed(md, 9)
	seed(md, 1)
	fr := kmsg.NewPtrFetchRequest()
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "telemetry"
	ft.Partitions = append(ft.Partitions, kmsg.NewFetchRequestTopicPartition())
	fr.Topics = append(fr.Topics, ft)
	seed(fr, 12)
	seed(fr, 4)
	pr := kmsg.NewPtrProduceRequest()
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "t"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 49}
	pt.Partitions = append(pt.Partitions, pp)
	pr.Topics = append(pr.Topics, pt)
	seed(pr, 9)
	seed(pr, 3)
	seed(kmsg.NewPtrApiVersionsRequest(), 3)
	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Protocols = append(jg.Protocols, kmsg.NewJoinGroupRequestProtocol())
	seed(jg, 7)
	f.Add(binary.BigEndian.AppendUint16(nil, 999))
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, a, req, err := decode(frame)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) && !errors.Is(err, errUnsupported) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		again := formatter.AppendRequest(nil, req, h.correlationID)
		if _, a2, _, err := decode(again[4:]); err != nil || a2.name != a.name {
			t.Fatalf("%s v%d re-encoded does not decode: %v", a.name, h.version, err)
		}
	})
}

// FuzzReadFrame feeds arbitrary byte streams to the framing layer: frames
// come back whole and within the limit, or a classified error; a frame's
// buffer follows the bytes received (at most about twice them, or one
// chunk), never the size the stream declares.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 0, 3})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 10, 1, 2})
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := bytes.NewReader(stream)
		for {
			frame, err := readFrame(r, 1<<20)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("unclassified error: %v", err)
				}
				return
			}
			if len(frame) < 8 || len(frame) > 1<<20 || cap(frame) > 2*len(stream)+frameChunk {
				t.Fatalf("frame of %d bytes (cap %d) from %d bytes of input", len(frame), cap(frame), len(stream))
			}
		}
	})
}

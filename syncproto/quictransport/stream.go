package quictransport

import (
	"errors"
	"io"
	"time"

	"github.com/quic-go/quic-go"
)

// Stream is a bidirectional stream (the control stream).
type Stream struct {
	s *quic.Stream
}

func (s *Stream) Read(p []byte) (int, error) {
	n, err := s.s.Read(p)
	return n, mapStreamErr(err)
}

func (s *Stream) Write(p []byte) (int, error) {
	n, err := s.s.Write(p)
	return n, mapStreamErr(err)
}

// Close ends the sending side after what was written is delivered.
func (s *Stream) Close() error { return mapStreamErr(s.s.Close()) }

// SetReadDeadline and SetWriteDeadline bound blocking calls.
func (s *Stream) SetReadDeadline(t time.Time) error  { return s.s.SetReadDeadline(t) }
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.s.SetWriteDeadline(t) }

// SendStream is a unidirectional stream this side writes (a data stream on
// the agent).
type SendStream struct {
	s *quic.SendStream
}

func (s *SendStream) Write(p []byte) (int, error) {
	n, err := s.s.Write(p)
	return n, mapStreamErr(err)
}

// Close ends the stream after what was written is delivered.
func (s *SendStream) Close() error { return mapStreamErr(s.s.Close()) }

// Cancel abandons what was not delivered yet.
func (s *SendStream) Cancel() { s.s.CancelWrite(0) }

// SetWriteDeadline bounds blocking writes.
func (s *SendStream) SetWriteDeadline(t time.Time) error { return s.s.SetWriteDeadline(t) }

// RecvStream is a unidirectional stream this side reads (a data stream on
// the hub).
type RecvStream struct {
	s *quic.ReceiveStream
}

func (s *RecvStream) Read(p []byte) (int, error) {
	n, err := s.s.Read(p)
	return n, mapStreamErr(err)
}

// Cancel tells the peer to stop sending.
func (s *RecvStream) Cancel() { s.s.CancelRead(0) }

// SetReadDeadline bounds blocking reads.
func (s *RecvStream) SetReadDeadline(t time.Time) error { return s.s.SetReadDeadline(t) }

// mapStreamErr keeps io.EOF as is (a cleanly finished stream) and maps the
// rest.
func mapStreamErr(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	return MapError(err)
}

package kafka

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn is a bare TCP connection speaking the Kafka framing by hand.
type rawConn struct {
	t  *testing.T
	nc net.Conn
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{t, nc}
}

// send writes a request frame: header v1 (or v2 if flexible), then body.
func (r *rawConn) send(key, version int16, corr int32, flexible bool, body []byte) {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "test"...)
	if flexible {
		b = append(b, 0)
	}
	b = append(b, body...)
	r.write(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b)
}

func (r *rawConn) write(parts ...[]byte) {
	for _, p := range parts {
		if _, err := r.nc.Write(p); err != nil {
			r.t.Fatal(err)
		}
	}
}

// recv reads one response frame: correlation ID and the rest.
func (r *rawConn) recv() (int32, []byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(r.nc, sz[:]); err != nil {
		return 0, nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(r.nc, b); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(b)), b[4:], nil
}

// expectClosed checks that the server closed the connection.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	buf := make([]byte, 1)
	if _, err := r.nc.Read(buf); !errors.Is(err, io.EOF) {
		var ne net.Error
		if !errors.As(err, &ne) || ne.Timeout() {
			r.t.Fatalf("connection not closed: %v", err)
		}
	}
}

// apiVersions does an ApiVersions v0 round trip on r.
func (r *rawConn) apiVersions(corr int32) *kmsg.ApiVersionsResponse {
	r.t.Helper()
	r.send(apiVersionsKey, 0, corr, false, nil)
	got, body, err := r.recv()
	if err != nil || got != corr {
		r.t.Fatalf("ApiVersions: corr %d %v", got, err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := resp.ReadFrom(body); err != nil {
		r.t.Fatal(err)
	}
	return resp
}

func TestApiVersionsAdvertisesOnlyServedVersions(t *testing.T) {
	h := startHub(t, "", "", hub.Config{}, Config{})
	resp := dialRaw(t, h.addr).apiVersions(7)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(apis) {
		t.Fatalf("ApiVersions: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
	// Stay below the versions that address topics by ID.
	topicID := map[int16]int16{produceKey: 13, fetchKey: 13, metadataKey: 10, offsetCommitKey: 10, offsetFetchKey: 10, createTopicsKey: 7, deleteTopicsKey: 6}
	for _, k := range resp.ApiKeys {
		if limit, ok := topicID[k.ApiKey]; ok && k.MaxVersion >= limit {
			t.Errorf("API %d advertised up to v%d, a topic-ID version", k.ApiKey, k.MaxVersion)
		}
	}
}

// TestApiVersionsDowngrade: a client newer than the hub gets a v0 answer
// with UNSUPPORTED_VERSION and the supported ranges, and may go on.
func TestApiVersionsDowngrade(t *testing.T) {
	h := startHub(t, "", "", hub.Config{}, Config{})
	r := dialRaw(t, h.addr)
	r.send(apiVersionsKey, 99, 1, true, []byte{0})
	corr, body, err := r.recv()
	if err != nil || corr != 1 {
		t.Fatalf("downgrade answer: %d %v", corr, err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("downgrade answer is not a v0 ApiVersions response: %v", err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("downgrade answer: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
	if again := r.apiVersions(2); again.ErrorCode != 0 {
		t.Fatalf("after downgrade: %d", again.ErrorCode)
	}
}

func TestBadRequestsCloseOnlyTheirConnection(t *testing.T) {
	h := startHub(t, "", "", hub.Config{}, Config{MaxRequestBytes: 1 << 20, MaxOtherBytes: 4096})
	bystander := dialRaw(t, h.addr)
	bystander.apiVersions(1)
	cases := map[string]func(r *rawConn){
		"unknown API key": func(r *rawConn) {
			r.send(999, 0, 42, false, nil)
			corr, body, err := r.recv()
			if err != nil || corr != 42 || len(body) != 2 || int16(binary.BigEndian.Uint16(body)) != kerr.UnsupportedVersion.Code {
				t.Fatalf("unknown API answer: corr %d body %x err %v", corr, body, err)
			}
		},
		"unsupported version of a known API": func(r *rawConn) {
			r.send(fetchKey, 2, 43, false, nil)
			corr, body, err := r.recv()
			if err != nil || corr != 43 || int16(binary.BigEndian.Uint16(body)) != kerr.UnsupportedVersion.Code {
				t.Fatalf("answer: corr %d body %x err %v", corr, body, err)
			}
		},
		"truncated body": func(r *rawConn) { r.send(metadataKey, 1, 5, false, []byte{0, 0, 0, 9}) },
		"frame over the limit": func(r *rawConn) {
			r.write(binary.BigEndian.AppendUint32(nil, 1<<30), []byte{0, byte(metadataKey)})
		},
		"produce frame over the limit": func(r *rawConn) {
			r.write(binary.BigEndian.AppendUint32(nil, 2<<20), []byte{0, 0})
		},
		"non-produce request over the other limit": func(r *rawConn) {
			r.send(metadataKey, 1, 5, false, make([]byte, 8192))
		},
		"negative frame size": func(r *rawConn) { r.write([]byte{0xff, 0xff, 0xff, 0xf0, 0, 3}) },
		"produce claiming a million partitions": func(r *rawConn) {
			var body []byte
			body = binary.BigEndian.AppendUint16(body, 0xffff) // null transactional ID
			body = binary.BigEndian.AppendUint16(body, 1)      // acks
			body = binary.BigEndian.AppendUint32(body, 1000)   // timeout
			body = binary.BigEndian.AppendUint32(body, 1)      // one topic
			body = binary.BigEndian.AppendUint16(body, 1)
			body = append(body, 't')
			body = binary.BigEndian.AppendUint32(body, 1000000)
			body = append(body, make([]byte, 100000)...)
			r.send(produceKey, 3, 6, false, body)
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := dialRaw(t, h.addr)
			r.t = t
			tc(r)
			r.expectClosed()
		})
	}
	if resp := bystander.apiVersions(2); resp.ErrorCode != 0 {
		t.Fatal("the bystander connection was disturbed")
	}
}

// TestSaslHandshakeV0: after a v0 handshake the exchange continues in bare
// length-prefixed tokens; then Kafka requests work. A bad password closes
// the connection.
func TestSaslHandshakeV0(t *testing.T) {
	h := startHub(t, "", "", hub.Config{}, Config{Users: map[string]string{"u": "pw"}, AllowPlaintextSASL: true})
	handshake := func(r *rawConn) {
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.Mechanism = "PLAIN"
		r.send(saslHandshakeKey, 0, 1, false, req.AppendTo(nil))
		_, body, err := r.recv()
		resp := kmsg.NewPtrSASLHandshakeResponse()
		if err != nil || resp.ReadFrom(body) != nil || resp.ErrorCode != 0 {
			t.Fatalf("handshake: %v %+v", err, resp)
		}
	}
	token := func(s string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...) }

	r := dialRaw(t, h.addr)
	handshake(r)
	r.write(token("\x00u\x00pw"))
	var sz [4]byte
	if _, err := io.ReadFull(r.nc, sz[:]); err != nil || binary.BigEndian.Uint32(sz[:]) != 0 {
		t.Fatalf("bare PLAIN answer: %v %x", err, sz)
	}
	md := kmsg.NewPtrMetadataRequest()
	r.send(metadataKey, 1, 2, false, md.AppendTo(nil))
	if corr, _, err := r.recv(); err != nil || corr != 2 {
		t.Fatalf("metadata after v0 authentication: %d %v", corr, err)
	}

	bad := dialRaw(t, h.addr)
	handshake(bad)
	bad.write(token("\x00u\x00wrong"))
	bad.expectClosed()

	unauth := dialRaw(t, h.addr)
	unauth.send(metadataKey, 1, 3, false, md.AppendTo(nil))
	unauth.expectClosed()
}

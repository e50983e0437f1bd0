package sut

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeNATS answers one connection: INFO, then, once the client's PING has
// arrived, the given lines.
func fakeNATS(t *testing.T, answer string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("INFO {\"server_id\":\"x\"}\r\n"))
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line == "PING\r\n" {
				break
			}
		}
		_, _ = c.Write([]byte(answer))
		_, _ = r.ReadString('\n') // until the client hangs up
	}()
	return l.Addr().String()
}

func TestNATSRequestReadsReply(t *testing.T) {
	addr := fakeNATS(t, "PONG\r\nPING\r\nMSG _INBOX.sut 1 12\r\nhello\r\nworld\r\n")
	got, err := NATSRequest(context.Background(), addr, "a.b", []byte("req"))
	if err != nil || string(got) != "hello\r\nworld" {
		t.Fatalf("NATSRequest = %q, %v", got, err)
	}
}

func TestNATSRequestErrors(t *testing.T) {
	for name, answer := range map[string]string{
		"server error":   "-ERR 'Permissions Violation'\r\n",
		"bad size":       "MSG _INBOX.sut 1 x\r\n",
		"unterminated":   "MSG _INBOX.sut 1 2\r\nabcd",
		"unknown answer": "HELLO\r\n",
	} {
		addr := fakeNATS(t, answer)
		if _, err := NATSRequest(context.Background(), addr, "a.b", nil); !errors.Is(err, ErrNATS) {
			t.Errorf("%s: err = %v, want ErrNATS", name, err)
		}
	}
}

func TestNATSRequestTimesOut(t *testing.T) {
	addr := fakeNATS(t, "PONG\r\n") // no reply ever
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := NATSRequest(ctx, addr, "a.b", nil); err == nil {
		t.Fatal("no error without a reply")
	}
}

func TestJetStreamCallReportsAPIError(t *testing.T) {
	body := `{"type":"x","error":{"code":400,"description":"stream name already in use"}}`
	addr := fakeNATS(t, "MSG _INBOX.sut 1 "+strconv.Itoa(len(body))+"\r\n"+body+"\r\n")
	_, err := JetStreamCall(context.Background(), addr, "$JS.API.STREAM.CREATE.X", map[string]string{"name": "X"})
	if !errors.Is(err, ErrNATS) || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("err = %v", err)
	}
}

// TestJetStreamCallOnNATSServer creates a stream on a real nats-server and
// stores a message in it; skipped without nats-server.
func TestJetStreamCallOnNATSServer(t *testing.T) {
	if Available("nats-server") != nil {
		t.Skip("nats-server not installed")
	}
	s, err := NATS(t.TempDir(), NATSOptions{NoMQTT: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Remove()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		_, err = JetStreamCall(ctx, s.NATSAddr, "$JS.API.STREAM.CREATE.T", map[string]any{"name": "T", "subjects": []string{"t.>"}})
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("create stream: %v\n%s", err, s.Log(2000))
	}
	if ack, err := NATSRequest(ctx, s.NATSAddr, "t.1", []byte("x")); err != nil || !strings.Contains(string(ack), `"seq":1`) {
		t.Fatalf("publish ack = %s, %v", ack, err)
	}
	st, err := s.Streams(ctx)
	if err != nil || st["T"].Messages != 1 {
		t.Fatalf("streams = %v, %v", st, err)
	}
}

package sut

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// ErrNATS is returned when a NATS server refuses a request or answers
// something NATSRequest cannot read.
var ErrNATS = errors.New("sut: nats")

// NATSRequest sends one request over the NATS client protocol to the server
// at addr (a fresh connection, closed on return) and returns the payload of
// the first reply. It is enough for the JetStream API ($JS.API.STREAM.CREATE.
// and the like), which the suite uses to set up streams without a client
// library. Without a deadline in ctx it waits at most 10 s.
func NATSRequest(ctx context.Context, addr, subject string, payload []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	r := bufio.NewReader(conn)
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "INFO ") {
		return nil, fmt.Errorf("%w: expected INFO, got %q", ErrNATS, line)
	}
	const inbox = "_INBOX.sut"
	req := fmt.Sprintf("CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1,\"name\":\"sut\"}\r\n"+
		"SUB %s 1\r\nPUB %s %s %d\r\n%s\r\nPING\r\n", inbox, subject, inbox, len(payload), payload)
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, err
	}
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		switch {
		case line == "PING":
			if _, err := io.WriteString(conn, "PONG\r\n"); err != nil {
				return nil, err
			}
		case line == "PONG", line == "+OK", strings.HasPrefix(line, "INFO "):
		case strings.HasPrefix(line, "-ERR"):
			return nil, fmt.Errorf("%w: %s", ErrNATS, line)
		case strings.HasPrefix(line, "MSG "):
			return readMsgPayload(r, line)
		default:
			return nil, fmt.Errorf("%w: unexpected %q", ErrNATS, line)
		}
	}
}

// readMsgPayload reads the payload announced by a line "MSG <subject>
// <sid> [reply-to] <size>".
func readMsgPayload(r *bufio.Reader, line string) ([]byte, error) {
	f := strings.Fields(line)
	if len(f) < 4 || len(f) > 5 {
		return nil, fmt.Errorf("%w: bad %q", ErrNATS, line)
	}
	n, err := strconv.Atoi(f[len(f)-1])
	if err != nil || n < 0 || n > 64<<20 {
		return nil, fmt.Errorf("%w: bad size in %q", ErrNATS, line)
	}
	b := make([]byte, n+2)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	if string(b[n:]) != "\r\n" {
		return nil, fmt.Errorf("%w: payload not terminated", ErrNATS)
	}
	return b[:n], nil
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// JetStreamCall sends req, marshalled to JSON, to the JetStream API subject
// (e.g. "$JS.API.STREAM.CREATE.EDGE") of the server at addr and returns the
// reply, or the error the API answered with.
func JetStreamCall(ctx context.Context, addr, subject string, req any) ([]byte, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	reply, err := NATSRequest(ctx, addr, subject, b)
	if err != nil {
		return nil, err
	}
	var r struct {
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(reply, &r); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNATS, subject, err)
	}
	if r.Error != nil {
		return nil, fmt.Errorf("%w: %s: %d %s", ErrNATS, subject, r.Error.Code, r.Error.Description)
	}
	return reply, nil
}

package agent

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// burstPair returns a connected client socket and the agent side as the
// listener makes it (a burstConn over a real loopback TCP connection).
func burstPair(t *testing.T) (client net.Conn, server *burstConn) {
	t.Helper()
	l := newTCPListener("test", "127.0.0.1:0", nil, connLimits{writeTimeout: time.Minute, connectTimeout: time.Minute, writeTimeouts: new(atomic.Int64)})
	if err := l.Init(nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	client, err := net.Dial("tcp", l.Address())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	c, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close() })
	return client, c.(*burstConn)
}

// TestBurstConnDeliversEveryByte: whatever the mix of small writes,
// pipelined bursts and writes that exactly fill the reader's buffer, the
// connection's reader gets the bytes in order, and holds no burst buffer
// once it has read them all.
func TestBurstConnDeliversEveryByte(t *testing.T) {
	client, server := burstPair(t)
	const bufSize = 64
	var want bytes.Buffer
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, bufSize, 2 * bufSize, bufSize - 1, burstSize, burstSize + 1, 3 * burstSize, 7}
	for range 200 {
		sizes = append(sizes, rng.IntN(4*bufSize)+1)
	}
	go func() {
		for i, n := range sizes {
			b := make([]byte, n)
			for j := range b {
				b[j] = byte(i + j)
			}
			if _, err := client.Write(b); err != nil {
				return
			}
			if i%10 == 0 {
				time.Sleep(time.Millisecond) // let some reads find the socket empty
			}
		}
	}()
	for i, n := range sizes {
		for j := range n {
			want.WriteByte(byte(i + j))
		}
	}
	r := bufio.NewReaderSize(server, bufSize)
	got := make([]byte, want.Len())
	for off := 0; off < len(got); {
		n := min(rng.IntN(3*bufSize)+1, len(got)-off)
		if _, err := io.ReadFull(r, got[off:off+n]); err != nil {
			t.Fatalf("after %d of %d bytes: %v", off, len(got), err)
		}
		off += n
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("bytes read differ from bytes written")
	}
	if r.Buffered() == 0 && server.buf != nil {
		t.Error("a burst buffer is still held after every byte was read")
	}
}

// TestBurstConnWaitsWithoutBuffer: a device that sent a message and went
// quiet must not keep a burst buffer while the agent waits for its next
// message; the next message still arrives whole.
func TestBurstConnWaitsWithoutBuffer(t *testing.T) {
	client, server := burstPair(t)
	msg := bytes.Repeat([]byte{'m'}, 64)
	if _, err := client.Write(msg); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, len(msg))
	if _, err := io.ReadFull(server, p); err != nil {
		t.Fatal(err)
	}
	// Nothing more was sent: the next read waits (here until a deadline)
	// and must not hold a burst buffer meanwhile or after.
	_ = server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := server.Read(p); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on a quiet connection: %v, want a deadline error", err)
	}
	if server.buf != nil {
		t.Fatal("a burst buffer is held by a connection that has nothing to read")
	}
	_ = server.SetReadDeadline(time.Time{})
	if _, err := client.Write([]byte("next")); err != nil {
		t.Fatal(err)
	}
	n, err := io.ReadAtLeast(server, p, 4)
	if err != nil || string(p[:n]) != "next" {
		t.Fatalf("next message: %q, %v", p[:n], err)
	}
}

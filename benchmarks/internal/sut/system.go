package sut

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/mqttc"
)

// ErrNotRunning is returned by Kill and Stop on a stopped System.
var ErrNotRunning = errors.New("sut: not running")

// System is one installation of a broker: a data directory, ports and a
// command line, started and stopped any number of times.
type System struct {
	Name     string // e.g. "edgelog agent"
	Dir      string // all its state; removed by Remove
	MQTTAddr string // MQTT listener (empty for the hub)
	HTTPAddr string // edgelog /metrics or NATS monitoring ("" if none)
	NATSAddr string // NATS: client port
	LeafAddr string // NATS: leaf-node port ("" if it accepts none)
	Bin      string
	Args     []string

	cmd     *exec.Cmd     // the running process, nil when stopped
	exited  chan struct{} // closed when cmd has been waited for
	started time.Time
}

// Available reports whether bin can be run (a path, or a name on PATH).
func Available(bin string) error {
	_, err := exec.LookPath(bin)
	return err
}

// Start launches the process. It does not wait for it to listen.
func (s *System) Start() error {
	if s.cmd != nil {
		return fmt.Errorf("sut: %s already running", s.Name)
	}
	logf, err := os.OpenFile(filepath.Join(s.Dir, "process.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.Bin, s.Args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("sut: start %s: %w", s.Name, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(done chan struct{}) {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}(s.exited)
	return nil
}

// Started is when the last Start launched the process.
func (s *System) Started() time.Time { return s.started }

// Pid is the running process's id (0 when stopped).
func (s *System) Pid() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Kill ends the process with SIGKILL and waits for it.
func (s *System) Kill() error {
	if s.cmd == nil {
		return ErrNotRunning
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
	return nil
}

// Stop asks the process to exit (SIGTERM), waits up to timeout, then kills
// it. It reports whether the process had to be killed.
func (s *System) Stop(timeout time.Duration) error {
	if s.cmd == nil {
		return ErrNotRunning
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		s.cmd = nil
		return nil
	case <-time.After(timeout):
		_ = s.Kill()
		return fmt.Errorf("sut: %s did not stop within %v; killed", s.Name, timeout)
	}
}

// Signal sends sig to the running process.
func (s *System) Signal(sig syscall.Signal) error {
	if s.cmd == nil {
		return ErrNotRunning
	}
	return s.cmd.Process.Signal(sig)
}

// Running reports whether the process is alive.
func (s *System) Running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Remove stops the process if needed and deletes the data directory.
func (s *System) Remove() {
	if s.cmd != nil {
		_ = s.Kill()
	}
	_ = os.RemoveAll(s.Dir)
}

// Log returns the last n bytes of the process's output.
func (s *System) Log(n int) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "process.log"))
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// WaitMQTT polls until an MQTT client can connect (CONNACK) or ctx ends.
func (s *System) WaitMQTT(ctx context.Context) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := mqttc.Dial(cctx, s.MQTTAddr, mqttc.Options{ClientID: "sut-probe", Clean: true, Timeout: 2 * time.Second})
		cancel()
		if err == nil {
			return c.Disconnect()
		}
		if !s.Running() {
			return fmt.Errorf("sut: %s exited: %s", s.Name, s.Log(2000))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sut: %s not accepting MQTT: %w (last: %v)", s.Name, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// FirstAck polls from the moment of the call until a QoS 1 publish to topic
// is acknowledged, and returns the time since Start launched the process,
// and the time until a TCP connection was first accepted.
func (s *System) FirstAck(ctx context.Context, topic string) (ack, listen time.Duration, err error) {
	payload := make([]byte, 200)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := mqttc.Dial(cctx, s.MQTTAddr, mqttc.Options{ClientID: "sut-first-ack", Clean: true, Timeout: 5 * time.Second})
		if err == nil {
			if listen == 0 {
				listen = time.Since(s.started)
			}
			err = c.PublishSync(cctx, topic, 1, payload)
			_ = c.Disconnect()
			if err == nil {
				cancel()
				return time.Since(s.started), listen, nil
			}
		} else if listen == 0 && !errors.Is(err, syscall.ECONNREFUSED) {
			listen = time.Since(s.started) // accepted, but no CONNACK yet
		}
		cancel()
		if !s.Running() {
			return 0, 0, fmt.Errorf("sut: %s exited: %s", s.Name, s.Log(2000))
		}
		select {
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("sut: %s never acknowledged: %w (last: %v)", s.Name, ctx.Err(), err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// DiskBytes is the space the data directory's files take (apparent size).
func (s *System) DiskBytes() int64 {
	var n int64
	_ = filepath.WalkDir(s.Dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && filepath.Base(path) != "process.log" {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func FreeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

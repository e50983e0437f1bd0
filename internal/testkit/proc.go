package testkit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is a real edgelog process. Its output is appended to one log file
// across restarts.
type Process struct {
	t       testing.TB
	name    string
	args    []string
	env     []string // added to the test's environment
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// Start runs `edgelog args...` and registers cleanup that kills it.
func Start(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	return StartEnv(t, name, nil, args...)
}

// StartEnv is Start with env ("KEY=value") added to the process's
// environment, on every restart too.
func StartEnv(t testing.TB, name string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{t: t, name: name, args: args, env: env, logPath: filepath.Join(t.TempDir(), name+".log")}
	p.start()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- %s log (tail) ---\n%s", p.name, tail(p.Logs(), 60))
		}
	})
	return p
}

func (p *Process) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "=== start %s %s\n", p.name, strings.Join(p.args, " "))
	cmd := exec.Command(Binary(p.t), p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	if len(p.env) > 0 {
		cmd.Env = append(os.Environ(), p.env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		p.waitErr = cmd.Wait()
		close(exited)
	}(p.exited)
}

// Running reports whether the process has not exited.
func (p *Process) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL (a crash: nothing is flushed) and waits for the exit.
func (p *Process) Kill() {
	if p.cmd == nil || !p.Running() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// Signal sends sig to the process (not its group).
func (p *Process) Signal(sig syscall.Signal) error {
	if p.cmd == nil || !p.Running() {
		return errors.New("testkit: " + p.name + " is not running")
	}
	return p.cmd.Process.Signal(sig)
}

// Wait waits up to timeout for the process to exit and reports whether it
// did.
func (p *Process) Wait(timeout time.Duration) bool {
	select {
	case <-p.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Pid is the process ID of the current run.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and waits up to timeout for a clean exit, killing the
// process after that. It returns the exit error (nil: exit code 0).
func (p *Process) Stop(timeout time.Duration) error {
	if !p.Running() {
		return p.waitErr
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s did not stop within %v after SIGTERM", p.name, timeout)
	}
}

// Restart starts the process again with the same arguments; it must have
// exited.
func (p *Process) Restart() {
	p.t.Helper()
	if p.Running() {
		p.t.Fatalf("restart %s: still running", p.name)
	}
	p.start()
}

// ExitError is the result of the last exit (nil while running or after a
// zero exit).
func (p *Process) ExitError() error {
	if p.Running() {
		return nil
	}
	return p.waitErr
}

// Logs returns everything the process has written so far.
func (p *Process) Logs() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// WaitHTTP polls url until it answers 200 or the deadline passes; it fails
// the test early if p exits meanwhile.
func (p *Process) WaitHTTP(url string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if !p.Running() {
			p.t.Fatalf("%s exited (%v) before %s answered:\n%s", p.name, p.waitErr, url, tail(p.Logs(), 40))
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %s not ready after %v (last error %v)", p.name, url, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreeTCP returns a loopback TCP address that was free a moment ago.
func FreeTCP(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// FreeUDP returns a loopback UDP address that was free a moment ago.
func FreeUDP(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// Eventually polls cond every 50 ms until it holds or timeout passes.
func Eventually(ctx context.Context, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return errors.New("condition not met before the deadline")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

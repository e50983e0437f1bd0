package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/cli"
)

// demoChildEnv, when set, makes TestDemoChild run `edgelog` with the
// arguments it holds (newline-separated): the test binary doubles as the
// edgelog binary, so the demo runs as a real process with real signals.
const demoChildEnv = "EDGELOG_DEMO_CHILD_ARGS"

func TestDemoChild(t *testing.T) {
	args := os.Getenv(demoChildEnv)
	if args == "" {
		t.Skip("runs only as the child of a demo test")
	}
	os.Exit(run(context.Background(), strings.Split(args, "\n"), cli.OSEnv()))
}

// demoProc is a running `edgelog demo` child process.
type demoProc struct {
	cmd    *exec.Cmd
	tmp    string // the child's TMPDIR
	mu     sync.Mutex
	out    strings.Builder // stdout and stderr; protected by mu
	lines  chan string     // stdout lines as they come
	exited chan struct{}
	err    error // set before exited is closed
}

// startDemoProc runs edgelog demo with loopback port 0 everywhere, so it
// collides with nothing, and a TMPDIR of its own.
func startDemoProc(t *testing.T, extra ...string) *demoProc {
	t.Helper()
	p := &demoProc{tmp: filepath.Join(t.TempDir(), "tmp"), lines: make(chan string, 4096), exited: make(chan struct{})}
	if err := os.Mkdir(p.tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"demo", "--listen-mqtt", "127.0.0.1:0", "--agent-http", "127.0.0.1:0", "--listen-kafka", "127.0.0.1:0",
		"--hub-http", "127.0.0.1:0", "--listen-sync", "127.0.0.1:0", "--devices", "10"}, extra...)
	p.cmd = exec.Command(os.Args[0], "-test.run", "^TestDemoChild$", "-test.timeout", "10m")
	p.cmd.Env = append(os.Environ(), demoChildEnv+"="+strings.Join(args, "\n"), "TMPDIR="+p.tmp)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = writerFunc(func(b []byte) { p.mu.Lock(); p.out.Write(b); p.mu.Unlock() })
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

type writerFunc func([]byte)

func (f writerFunc) Write(b []byte) (int, error) { f(b); return len(b), nil }

func (p *demoProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// wait waits for the process to exit and returns its exit code.
func (p *demoProc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("demo did not exit within %v:\n%s", limit, p.output())
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatalf("demo: %v", p.err)
	return -1
}

// summaryCount reads a row of the final summary ("  lost   0  ...").
func summaryCount(t *testing.T, out, label string) int {
	t.Helper()
	i := strings.LastIndex(out, "edgelog demo: summary")
	if i < 0 {
		t.Fatalf("no summary in the output:\n%s", out)
	}
	m := regexp.MustCompile(`(?m)^  ` + label + `\s+([\d,]+)  `).FindStringSubmatch(out[i:])
	if m == nil {
		t.Fatalf("summary has no %q row:\n%s", label, out[i:])
	}
	n, err := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkCleanExit asserts what a user relies on after the demo: nothing
// acknowledged lost or duplicated, and no data directory left behind.
func checkCleanExit(t *testing.T, p *demoProc, code int) {
	t.Helper()
	out := p.output()
	if code != 0 {
		t.Fatalf("demo exit %d:\n%s", code, out)
	}
	acked, atHub := summaryCount(t, out, "acked"), summaryCount(t, out, "at hub")
	if acked == 0 || atHub < acked {
		t.Errorf("acked %d, at hub %d:\n%s", acked, atHub, out)
	}
	if lost, dup := summaryCount(t, out, "lost"), summaryCount(t, out, "duplicated"); lost != 0 || dup != 0 {
		t.Errorf("lost %d, duplicated %d:\n%s", lost, dup, out)
	}
	if !strings.Contains(out, "no loss: every acknowledged message reached the hub exactly once") {
		t.Errorf("summary does not state no loss:\n%s", out)
	}
	m := regexp.MustCompile(`(?m)^removed (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no 'removed DIR' line:\n%s", out)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("%s still exists (%v)", m[1], err)
	}
	if left, _ := os.ReadDir(p.tmp); len(left) != 0 {
		t.Errorf("the demo left %v in its TMPDIR", left)
	}
}

// TestDemoRunsOutagesAndLosesNothing runs the demo for a fixed time with two
// uplink cuts, its output not a terminal: plain progress lines, every
// outage's backlog drained with no loss, and a summary in which everything
// acknowledged is at the hub exactly once.
func TestDemoRunsOutagesAndLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for 20s")
	}
	p := startDemoProc(t, "--duration", "20s", "--outage-every", "8s", "--outage-length", "3s")
	code := p.wait(t, 5*time.Minute)
	checkCleanExit(t, p, code)
	out := p.output()
	if acked, atHub := summaryCount(t, out, "acked"), summaryCount(t, out, "at hub"); acked != atHub {
		t.Errorf("a run that ends by --duration drains every device: acked %d != at hub %d:\n%s", acked, atHub, out)
	}
	for _, want := range []string{"kcat -b 127.0.0.1:", "edgelog consume --kafka 127.0.0.1:", "uplink cut (outage 1", "outage 1 drained", "no loss"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("terminal escapes in output that is not a terminal")
	}
}

// TestDemoSIGINTDuringOutage interrupts the demo while its uplink is cut:
// it restores the link, drains the backlog, stops in order and exits 0
// with nothing lost and its data removed.
func TestDemoSIGINTDuringOutage(t *testing.T) {
	p := startDemoProc(t, "--outage-every", "4s", "--outage-length", "3s")
	deadline := time.After(3 * time.Minute)
	for cut := false; !cut; {
		select {
		case l := <-p.lines:
			cut = strings.Contains(l, "uplink cut")
		case <-p.exited:
			t.Fatalf("demo exited early:\n%s", p.output())
		case <-deadline:
			t.Fatalf("no uplink cut:\n%s", p.output())
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	checkCleanExit(t, p, p.wait(t, 2*time.Minute))
	if out := p.output(); !strings.Contains(out, "stop requested") || !strings.Contains(out, "agent stopped") {
		t.Errorf("no orderly stop in the output:\n%s", out)
	}
}

// TestDemoBadFlags: a bad flag is one line naming it, exit 2, nothing
// started.
func TestDemoBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		key  string
	}{
		{[]string{"--devices", "0"}, "devices"},
		{[]string{"--rate", "-1"}, "rate"},
		{[]string{"--duration", "-1s"}, "duration"},
		{[]string{"--outage-every", "5s", "--outage-length", "5s"}, "outage-length"},
		{[]string{"--listen-kafka", "nowhere"}, "listen-kafka"},
		{[]string{"--log-level", "loud"}, "log-level"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		code, _, stderr := runCmd(append([]string{"demo"}, tc.args...)...)
		if code != cli.ExitUsage || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, tc.key) {
			t.Errorf("demo %v: exit %d, stderr %q; want exit 2 and one line naming %q", tc.args, code, stderr, tc.key)
		}
	}
}

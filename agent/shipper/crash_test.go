package shipper

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/hub/ingest"
	"github.com/edgelog/edgelog/internal/pki"
	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/wal"
)

// Environment of the child processes of TestSyncSIGKILL.
const (
	crashRoleEnv  = "EDGELOG_SYNC_CRASH_ROLE" // "hub" or "agent"
	crashDirEnv   = "EDGELOG_SYNC_CRASH_DIR"
	crashAddrEnv  = "EDGELOG_SYNC_CRASH_ADDR"
	crashTotalEnv = "EDGELOG_SYNC_CRASH_TOTAL"
)

// TestSyncCrashChild is the body of the child processes of
// TestSyncSIGKILL: a hub (broker + ingest) or an agent (WAL + appender +
// shipper), each running until killed.
func TestSyncCrashChild(t *testing.T) {
	switch os.Getenv(crashRoleEnv) {
	case "hub":
		crashHub(os.Getenv(crashDirEnv), os.Getenv(crashAddrEnv))
	case "agent":
		total, _ := strconv.ParseUint(os.Getenv(crashTotalEnv), 10, 64)
		crashAgent(os.Getenv(crashDirEnv), os.Getenv(crashAddrEnv), total)
	default:
		t.Skip("runs only as a child of TestSyncSIGKILL")
	}
}

func childFail(format string, args ...any) {
	fmt.Printf("error "+format+"\n", args...)
	os.Exit(3)
}

func crashHub(dir, addr string) {
	ca, err := pki.LoadOrCreate(dir)
	if err != nil {
		childFail("pki: %v", err)
	}
	b, err := hub.Open(hub.Config{Dir: dir, Partitions: 4, Logger: quiet()})
	if err != nil {
		childFail("hub: %v", err)
	}
	var srv *ingest.Server
	for deadline := time.Now().Add(30 * time.Second); ; {
		srv, err = ingest.New(b, ingest.Config{Listen: addr, TLS: ca.ServerTLS(), Logger: quiet()})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			childFail("ingest: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("ready")
	_ = srv.Run(context.Background())
}

func crashAgent(dir, hubAddr string, total uint64) {
	bundle, err := pki.LoadBundle(filepath.Join(dir, "agent.pem"))
	if err != nil {
		childFail("credentials: %v", err)
	}
	l, err := wal.Open(filepath.Join(dir, "wal"), wal.Options{Fsync: wal.FsyncAlways, SegmentSize: 256 << 10, Logger: quiet()})
	if err != nil {
		childFail("wal: %v", err)
	}
	fmt.Println("epoch", l.Epoch())
	s, err := New(l, func(seq uint64) error { return l.TruncateFront(seq + 1) }, Config{Hub: hubAddr, Credentials: bundle,
		Logger: quiet(), BackoffBase: 20 * time.Millisecond, BackoffMax: 300 * time.Millisecond})
	if err != nil {
		childFail("shipper: %v", err)
	}
	go func() { _ = s.Run(context.Background()) }()
	go func() {
		for range time.Tick(5 * time.Second) {
			st := s.SyncStatus()
			fmt.Printf("status next=%d durable=%d acked=%d connected=%v err=%q\n", l.Next(), l.Durable(), s.Acked(), st.Connected, st.LastError)
		}
	}()
	for l.Next() <= total {
		// As the agent does: wait for the commit callbacks (fsync always).
		var wg sync.WaitGroup
		var last atomic.Uint64
		for range min(50, total+1-l.Next()) {
			seq := l.Next()
			r := record.Record{TimeMs: time.Now().UnixMilli(), ClientID: fmt.Sprintf("dev-%d", seq%17),
				Topic: "telemetry/crash", QoS: 1, Payload: []byte(payloadFor(seq))}
			enc, _ := record.Encode(&r)
			wg.Add(1)
			if _, err := l.AppendAsync(context.Background(), enc, func(seq uint64, err error) {
				if err != nil {
					childFail("append: %v", err)
				}
				last.Store(max(last.Load(), seq))
				wg.Done()
			}); err != nil {
				childFail("append: %v", err)
			}
		}
		wg.Wait()
		fmt.Println("durable", last.Load())
		time.Sleep(2 * time.Millisecond)
	}
	for s.Acked() < total {
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println("done", total)
	select {}
}

// child is a running child process and its parsed output.
type child struct {
	cmd    *exec.Cmd
	lines  chan []string // one per complete output line, closed at exit
	done   chan struct{} // agent: closed when it reports everything acknowledged
	stderr string        // file holding the child's stderr
}

// dump makes a child print its goroutines (SIGQUIT) and returns the end of
// its stderr.
func (c *child) dump() string {
	_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	time.Sleep(time.Second)
	b, _ := os.ReadFile(c.stderr)
	if len(b) > 30000 {
		b = b[len(b)-30000:]
	}
	return string(b)
}

func startChild(t testing.TB, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSyncCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.CreateTemp(t.TempDir(), "child-stderr-*")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan []string, 1024), stderr: stderr.Name()}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		stderr.Close()
	})
	go func() {
		defer close(c.lines)
		br := bufio.NewReader(out)
		for {
			ln, err := br.ReadString('\n') // a line cut by the kill does not count
			if err != nil {
				return
			}
			c.lines <- strings.Fields(ln)
		}
	}()
	return c
}

// await reads lines until one starts with word, failing on "error" lines.
// Other lines go to other.
func (c *child) await(t testing.TB, word string, timeout time.Duration, other func([]string)) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f, ok := <-c.lines:
			if !ok {
				t.Fatalf("child exited before %q", word)
			}
			if len(f) > 0 && f[0] == "error" {
				t.Fatalf("child: %s", strings.Join(f, " "))
			}
			if len(f) > 0 && f[0] == word {
				return f
			}
			if other != nil {
				other(f)
			}
		case <-deadline:
			t.Fatalf("no %q from the child in %v", word, timeout)
		}
	}
}

func (c *child) kill() {
	_ = c.cmd.Process.Kill() // SIGKILL
	if c.done == nil {
		for range c.lines {
		}
	}
	_ = c.cmd.Wait()
}

func freeUDPAddr(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// TestSyncSIGKILL kills the hub process, the agent process or both at
// random moments while the agent appends and ships, restarting them on the
// same data. Every record the agent's WAL made durable must end up in the
// hub exactly once, in per-device order.
func TestSyncSIGKILL(t *testing.T) {
	if os.Getenv(crashRoleEnv) != "" {
		t.Skip()
	}
	rounds, total := 8, uint64(40000)
	if testing.Short() {
		rounds, total = 3, 10000
	}
	root := t.TempDir()
	hubDir, agentDir := filepath.Join(root, "hub"), filepath.Join(root, "agent")
	ca, err := pki.LoadOrCreate(hubDir)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := ca.MintAgent("gw-crash", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(agentDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(agentDir, "agent.pem"), bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeUDPAddr(t)
	startHubChild := func() *child {
		c := startChild(t, crashRoleEnv+"=hub", crashDirEnv+"="+hubDir, crashAddrEnv+"="+addr)
		c.await(t, "ready", 60*time.Second, nil)
		return c
	}
	var mu sync.Mutex
	var epoch string
	var maxDurable uint64
	var lastLine string
	noteAgent := func(f []string) {
		mu.Lock()
		defer mu.Unlock()
		lastLine = strings.Join(f, " ")
		if len(f) == 2 && f[0] == "durable" {
			if d, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				maxDurable = max(maxDurable, d)
			}
		}
	}
	startAgentChild := func() *child {
		c := startChild(t, crashRoleEnv+"=agent", crashDirEnv+"="+agentDir, crashAddrEnv+"="+addr,
			crashTotalEnv+"="+strconv.FormatUint(total, 10))
		f := c.await(t, "epoch", 60*time.Second, nil)
		mu.Lock()
		if epoch != "" && epoch != f[1] {
			t.Errorf("the agent's WAL epoch changed from %s to %s", epoch, f[1])
		}
		epoch = f[1]
		mu.Unlock()
		// Keep consuming its output in the background.
		c.done = make(chan struct{})
		go func() {
			for f := range c.lines {
				noteAgent(f)
				if len(f) > 0 && f[0] == "error" {
					t.Errorf("agent child: %s", strings.Join(f, " "))
				}
				if len(f) > 0 && f[0] == "done" {
					close(c.done)
				}
				if len(f) > 0 && (f[0] == "waiting" || f[0] == "status") {
					t.Logf("agent child: %s", strings.Join(f, " "))
				}
			}
		}()
		return c
	}
	hubC, agentC := startHubChild(), startAgentChild()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills := map[string]int{}
	for range rounds {
		time.Sleep(time.Duration(200+rng.IntN(1000)) * time.Millisecond)
		switch rng.IntN(3) {
		case 0:
			hubC.kill()
			kills["hub"]++
			hubC = startHubChild()
		case 1:
			agentC.kill()
			kills["agent"]++
			agentC = startAgentChild()
		case 2:
			hubC.kill()
			agentC.kill()
			kills["both"]++
			hubC, agentC = startHubChild(), startAgentChild()
		}
	}
	select {
	case <-agentC.done:
	case <-time.After(180 * time.Second):
		mu.Lock()
		t.Logf("agent child goroutines:\n%s", agentC.dump())
		t.Fatalf("the agent did not get everything acknowledged in 180s (durable through %d of %d; last line %q)", maxDurable, total, lastLine)
	}
	agentC.kill()
	hubC.kill()

	b, err := hub.Open(hub.Config{Dir: hubDir, Partitions: 4, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := &testHub{t: t, broker: b}
	mu.Lock()
	defer mu.Unlock()
	if maxDurable > total {
		t.Fatalf("agent reported %d durable, total is %d", maxDurable, total)
	}
	checkExactlyOnce(t, h.records(), "gw-crash", epoch, total)
	t.Logf("kills %v; %d records exactly once", kills, total)
}

package kafka

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	crashDirEnv  = "EDGELOG_KAFKA_CRASH_DIR"
	crashAddrEnv = "EDGELOG_KAFKA_CRASH_ADDR"
)

// TestKafkaCrashChild is the hub process of TestKafkaCrashSIGKILL: it
// serves dir on addr until killed.
func TestKafkaCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestKafkaCrashSIGKILL")
	}
	h := startHub(t, dir, os.Getenv(crashAddrEnv), hub.Config{Partitions: 4, SegmentBytes: 256 << 10}, Config{})
	fmt.Println("ready", h.addr)
	select {}
}

// crashHub is a hub child process.
type crashHub struct {
	cmd *exec.Cmd
}

func startCrashHub(t *testing.T, dir, addr string) *crashHub {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKafkaCrashChild$", "-test.v", "-test.timeout=0")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashAddrEnv+"="+addr)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "ready ") {
			go func() {
				for sc.Scan() {
				}
			}()
			return &crashHub{cmd}
		}
	}
	cmd.Wait()
	t.Fatal("hub child exited before serving")
	return nil
}

func (c *crashHub) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

// TestKafkaCrashSIGKILL kills the hub process again and again while
// franz-go producers write with acks=-1 (idempotent, as by default), and
// restarts it on the same address: the producers ride through. Every
// record a producer saw acknowledged is stored exactly once, nothing is
// stored twice, and offsets are dense.
func TestKafkaCrashSIGKILL(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip()
	}
	rounds := 6
	if testing.Short() {
		rounds = 2
	}
	dir := t.TempDir()
	addr := freeAddrT(t)
	child := startCrashHub(t, dir, addr)
	defer func() { child.kill() }()

	ctx, stopProducing := context.WithCancel(context.Background())
	var mu sync.Mutex
	acked := map[string]bool{}
	var failed int
	var wg sync.WaitGroup
	var producers []*kgo.Client
	for p := 0; p < 3; p++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.RecordRetries(1<<30), kgo.RecordDeliveryTimeout(3*time.Minute), kgo.ProducerLinger(time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		producers = append(producers, cl)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("p%d-%d", p, i)
				r := &kgo.Record{Topic: "crash", Key: []byte(fmt.Sprintf("k%d", i%17)), Value: []byte(id)}
				cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					if err == nil {
						acked[id] = true
					} else {
						failed++
					}
				})
			}
		}()
	}
	ackedNow := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	for r := 0; r < rounds; r++ {
		// Kill only once the restarted hub has acknowledged something, so
		// every round crashes a hub under acknowledged load however slow
		// the machine is; then at a random instant after that.
		before, deadline := ackedNow(), time.Now().Add(2*time.Minute)
		for ackedNow() == before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(700)) * time.Millisecond)
		child.kill()
		mu.Lock()
		t.Logf("round %d: killed with %d records acknowledged", r, len(acked))
		mu.Unlock()
		child = startCrashHub(t, dir, addr)
	}
	time.Sleep(300 * time.Millisecond)
	stopProducing()
	wg.Wait()
	for _, cl := range producers {
		fctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		if err := cl.Flush(fctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
		cancel()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged")
	}
	ends, err := kadm.NewClient(newClient(t, addr)).ListEndOffsets(testCtx(t), "crash")
	if err != nil {
		t.Fatal(err)
	}
	var stored int64
	ends.Each(func(o kadm.ListedOffset) { stored += o.Offset })
	cons := newClient(t, addr, kgo.ConsumeTopics("crash"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]int{}
	next := map[int32]int64{}
	for _, r := range consumeN(t, testCtx(t), cons, int(stored)) {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d, want dense %d", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
		seen[string(r.Value)]++
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("record %s stored %d times", id, c)
		}
	}
	for id := range acked {
		if seen[id] != 1 {
			t.Errorf("acknowledged record %s stored %d times", id, seen[id])
		}
	}
	t.Logf("%d acknowledged, %d failed, %d stored", len(acked), failed, stored)
}

func freeAddrT(t *testing.T) string {
	t.Helper()
	h := startHub(t, "", "", hub.Config{}, Config{})
	addr := h.addr
	h.stop()
	return addr
}

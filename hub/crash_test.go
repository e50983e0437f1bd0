package hub

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	mergeCrashDirEnv    = "EDGELOG_HUB_MERGE_CRASH_DIR"
	mergeCrashKillAtEnv = "EDGELOG_HUB_MERGE_CRASH_KILL_AT"
	crashDevices        = 11
	crashTarget         = 200000
)

// TestMergeCrashChild is the hub process of TestMergeCrashSIGKILL: it plays
// a sync session (pipelined merges of random sizes from AgentResume on) and
// prints "acked N" whenever Merge reports N durable. With a kill-at count
// it SIGKILLs itself when that merge's partitions are durable but its
// watermark is not yet persisted.
func TestMergeCrashChild(t *testing.T) {
	dir := os.Getenv(mergeCrashDirEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestMergeCrashSIGKILL")
	}
	b, err := Open(Config{Dir: dir, Logger: quietLogger()})
	if err != nil {
		fmt.Println("open-error", err)
		os.Exit(3)
	}
	killAt, _ := strconv.Atoi(os.Getenv(mergeCrashKillAtEnv))
	var persists atomic.Int64
	b.testHookBeforePersist = func() {
		if killAt > 0 && persists.Add(1) == int64(killAt) {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	out := bufio.NewWriter(os.Stdout)
	ctx := context.Background()
	seq := b.AgentResume("a1", testEpoch)
	var pending []*PendingMerge
	for seq <= crashTarget || len(pending) > 0 {
		if seq <= crashTarget && len(pending) < 4 {
			n := uint64(1 + rand.IntN(60))
			pm, err := b.StartMerge(ctx, "a1", testEpoch, deviceRecords(seq, min(seq+n-1, crashTarget), crashDevices))
			if err != nil {
				fmt.Println("merge-error", err)
				os.Exit(4)
			}
			pending = append(pending, pm)
			seq += n
			continue
		}
		through, err := pending[0].Wait(ctx)
		if err != nil {
			fmt.Println("merge-error", err)
			os.Exit(4)
		}
		pending = pending[1:]
		fmt.Fprintf(out, "acked %d\n", through)
		out.Flush()
	}
	b.Close()
	fmt.Println("done")
}

// TestMergeCrashSIGKILL kills a hub process merging an agent's records,
// either at the worst moment (partitions durable, watermark not persisted)
// or at a random one, restarts it from AgentResume, and checks after every
// round that everything Merge acknowledged is stored exactly once, in
// device order, and that the resent records were deduplicated.
func TestMergeCrashSIGKILL(t *testing.T) {
	if os.Getenv(mergeCrashDirEnv) != "" {
		t.Skip()
	}
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	dir := t.TempDir()
	var acked uint64
	killedInWindow := 0
	for round := 0; round < rounds; round++ {
		killAt := 0
		if round%2 == 0 {
			killAt = 1 + rand.IntN(40)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestMergeCrashChild$", "-test.v")
		cmd.Env = append(os.Environ(), mergeCrashDirEnv+"="+dir, mergeCrashKillAtEnv+"="+strconv.Itoa(killAt))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if killAt == 0 {
			go func() {
				time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
				cmd.Process.Signal(syscall.SIGKILL)
			}()
		}
		sc := bufio.NewScanner(stdout)
		done := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "acked "):
				n, _ := strconv.ParseUint(strings.TrimPrefix(line, "acked "), 10, 64)
				if n < acked {
					t.Fatalf("round %d: acked %d after %d", round, n, acked)
				}
				acked = n
			case strings.HasPrefix(line, "open-error"), strings.HasPrefix(line, "merge-error"):
				t.Fatalf("round %d: child: %s", round, line)
			case line == "done":
				done = true
			}
		}
		err = cmd.Wait()
		if !done {
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
				t.Fatalf("round %d: child ended without being killed: %v", round, err)
			}
			if killAt > 0 {
				killedInWindow++
			}
		}
		b := openTestBroker(t, Config{Dir: dir})
		resume := b.AgentResume("a1", testEpoch)
		seen := checkStored(t, readTopic(t, b, "telemetry"), "a1", crashDevices)
		for s := uint64(1); s < resume; s++ {
			if seen[s] != 1 {
				t.Fatalf("round %d: seq %d below the watermark stored %d times", round, s, seen[s])
			}
		}
		if resume-1 < acked {
			t.Fatalf("round %d: watermark %d below the acknowledged %d", round, resume-1, acked)
		}
		t.Logf("round %d: kill-at %d, acked %d, watermark %d, stored %d (%d beyond the watermark)", round, killAt, acked, resume-1, len(seen), len(seen)-int(resume-1))
		b.Close()
		if done {
			break
		}
	}
	if killedInWindow == 0 && !testing.Short() {
		t.Error("no child was killed between partition fsync and watermark persist")
	}
	b := openTestBroker(t, Config{Dir: dir})
	defer b.Close()
	resume := b.AgentResume("a1", testEpoch)
	if resume <= crashTarget {
		if _, err := b.Merge(context.Background(), "a1", testEpoch, deviceRecords(resume, crashTarget, crashDevices)); err != nil {
			t.Fatal(err)
		}
	}
	checkExactlyOnce(t, readTopic(t, b, "telemetry"), "a1", crashTarget, crashDevices)
}

package wal

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const crashChildEnv = "EDGELOG_WAL_CRASH_CHILD"

// crashPayload is the content of the record carrying id.
func crashPayload(id uint64) []byte {
	p := make([]byte, 8+int(id%200))
	binary.LittleEndian.PutUint64(p, id)
	for i := 8; i < len(p); i++ {
		p[i] = byte(id>>3) + byte(i)
	}
	return p
}

// TestCrashChild is the body of the child process of TestCrashSIGKILL: it
// appends from 8 goroutines until killed, printing "seq id" for every record
// once the log reports it durable.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestCrashSIGKILL")
	}
	l, err := Open(dir, Options{Logger: quietLogger(), SegmentSize: 256 << 10})
	if err != nil {
		fmt.Println("open-error", err)
		os.Exit(3)
	}
	out := make(chan string, 4096)
	go func() {
		w := bufio.NewWriter(os.Stdout)
		for line := range out {
			w.WriteString(line)
			if len(out) == 0 {
				w.Flush()
			}
		}
	}()
	base := uint64(time.Now().UnixNano()) << 8
	var wg sync.WaitGroup
	for g := uint64(0); g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(0); ; i++ {
				id := base + g<<40 + i
				_, err := l.AppendAsync(context.Background(), crashPayload(id), func(seq uint64, err error) {
					if err == nil {
						out <- fmt.Sprintf("%d %d\n", seq, id)
					}
				})
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestCrashSIGKILL(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip()
	}
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	dir := t.TempDir()
	durable := map[uint64]uint64{} // seq → id, everything ever reported durable
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan []string, 1)
		go func() {
			// Only newline-terminated lines count: the kill can cut the
			// last one anywhere, even into a shorter valid-looking number.
			var got []string
			br := bufio.NewReader(stdout)
			for {
				ln, err := br.ReadString('\n')
				if err != nil {
					break
				}
				got = append(got, ln)
			}
			lines <- got
		}()
		time.Sleep(time.Duration(30+rng.IntN(250)) * time.Millisecond)
		cmd.Process.Kill() // SIGKILL
		got := <-lines
		cmd.Wait()
		reported := 0
		for _, ln := range got {
			f := strings.Fields(ln)
			if len(f) > 0 && f[0] == "open-error" {
				t.Fatalf("round %d: child could not open the log: %s", round, ln)
			}
			if len(f) != 2 {
				continue // a line cut by the kill
			}
			seq, err1 := strconv.ParseUint(f[0], 10, 64)
			id, err2 := strconv.ParseUint(f[1], 10, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			durable[seq] = id
			reported++
		}
		if reported == 0 && round > 0 {
			t.Logf("round %d: child reported nothing before the kill", round)
		}
		// Every record ever reported durable must be present and intact.
		found := map[uint64][]byte{}
		rep, err := Inspect(dir, func(seq uint64, p []byte) error {
			if _, ok := durable[seq]; ok {
				found[seq] = append([]byte(nil), p...)
			}
			return nil
		})
		if err != nil || rep.Corrupt != nil {
			t.Fatalf("round %d: inspect: %v %v", round, err, rep.Corrupt)
		}
		for seq, id := range durable {
			if string(found[seq]) != string(crashPayload(id)) {
				t.Fatalf("round %d: record %d (id %d) reported durable but missing or wrong after SIGKILL (found %d bytes, log holds %d..%d)", round, seq, id, len(found[seq]), rep.First, rep.Last)
			}
		}
	}
	if len(durable) == 0 {
		t.Fatal("no record was ever reported durable")
	}
	t.Logf("%d rounds, %d durable records verified", rounds, len(durable))
}

package devices

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type watchEvent struct {
	reg *Registry
	err error
}

func startWatch(t *testing.T, path string, baseline *Registry) <-chan watchEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan watchEvent, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		WatchWith(ctx, path, WatchOptions{Interval: 10 * time.Millisecond, Baseline: baseline}, func(r *Registry, err error) {
			events <- watchEvent{r, err}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return events
}

func next(t *testing.T, ch <-chan watchEvent) watchEvent {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no watch event within 30s")
		return watchEvent{}
	}
}

func quiet(t *testing.T, ch <-chan watchEvent) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected event: reg=%v err=%v", ev.reg != nil, ev.err)
	case <-time.After(200 * time.Millisecond):
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatchReportsChangesAndBadFiles(t *testing.T) {
	h := testHash(t)
	dev := func(ids ...string) string {
		s := "devices:\n"
		for _, id := range ids {
			s += fmt.Sprintf("  - {id: %s, password-hash: %q}\n", id, h)
		}
		return s
	}
	path := filepath.Join(t.TempDir(), "reg.yaml")
	writeFile(t, path, dev("a"))
	base, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base.Authenticate("a", testPassword); err != nil {
		t.Fatal(err)
	}
	events := startWatch(t, path, base)
	quiet(t, events) // unchanged content: nothing to report

	writeFile(t, path, dev("a", "b"))
	ev := next(t, events)
	if ev.err != nil || ev.reg.Len() != 2 {
		t.Fatalf("after adding b: reg=%v err=%v", ev.reg, ev.err)
	}
	if len(ev.reg.auth.entries) != 1 {
		t.Error("verified-password cache not carried over the reload")
	}

	writeFile(t, path, dev("a", "b")+"  - {id: a, password-hash: \""+h+"\"}\n")
	if ev := next(t, events); ev.reg != nil || ev.err == nil {
		t.Fatalf("duplicate ID not reported as an error: %+v", ev)
	}
	quiet(t, events) // a bad file is reported once

	writeFile(t, path, dev("c"))
	if ev := next(t, events); ev.err != nil || ev.reg.Len() != 1 {
		t.Fatalf("after fixing: %+v", ev)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.err == nil {
		t.Fatal("missing file not reported")
	}
	quiet(t, events)
	writeFile(t, path, dev("c"))
	if ev := next(t, events); ev.err != nil || ev.reg.Len() != 1 {
		t.Fatalf("file back: %+v", ev)
	}
}

func TestWatchWithoutBaselineReportsFirstContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reg.yaml")
	writeFile(t, path, "devices: []\n")
	events := startWatch(t, path, nil)
	if ev := next(t, events); ev.err != nil || ev.reg.Len() != 0 {
		t.Fatalf("first event: %+v", ev)
	}
	quiet(t, events)
}

// TestWatchIgnoresAFileCaughtMidWrite: an editor that truncates the registry
// and rewrites it in place leaves it empty (or cut) for a moment. A poll
// that reads it then must not apply it — an empty registry would disconnect
// every device — only content read unchanged by two polls in a row.
func TestWatchIgnoresAFileCaughtMidWrite(t *testing.T) {
	h := testHash(t)
	path := filepath.Join(t.TempDir(), "reg.yaml")
	full := func(ids ...string) string {
		s := "devices:\n"
		for _, id := range ids {
			s += fmt.Sprintf("  - {id: %s, password-hash: %q}\n", id, h)
		}
		return s
	}
	writeFile(t, path, full("a"))
	base, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []watchEvent
	w := watcher{path: path, good: base, digest: base.Digest(), known: true,
		onChange: func(r *Registry, err error) { got = append(got, watchEvent{r, err}) }}
	w.poll(true)
	if err := os.WriteFile(path, nil, 0o600); err != nil { // truncated, in place
		t.Fatal(err)
	}
	w.poll(false)
	if err := os.WriteFile(path, []byte(full("a", "b")[:30]), 0o600); err != nil { // half written
		t.Fatal(err)
	}
	w.poll(false)
	if len(got) != 0 {
		t.Fatalf("applied content caught mid-write: %d events, first reg=%v err=%v", len(got), got[0].reg, got[0].err)
	}
	if err := os.WriteFile(path, []byte(full("a", "b")), 0o600); err != nil {
		t.Fatal(err)
	}
	w.poll(false)
	w.poll(false)
	if len(got) != 1 || got[0].err != nil || got[0].reg.Len() != 2 {
		t.Fatalf("after the write completed: %d events %+v, want one registry of 2 devices", len(got), got)
	}
}

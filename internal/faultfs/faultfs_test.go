package faultfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHaltThenCrash is a power cut under a live writer: after Halt no write
// reaches the file, and Crash leaves exactly the fsynced prefix.
func TestHaltThenCrash(t *testing.T) {
	f := New()
	name := filepath.Join(t.TempDir(), "seg")
	h, err := f.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Write([]byte("durable.")); err != nil {
		t.Fatal(err)
	}
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Write([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	f.Halt()
	wrote := make(chan struct{})
	go func() {
		_, _ = h.Write([]byte("after the cut"))
		close(wrote)
	}()
	if err := f.Crash(DropUnsynced); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wrote:
		t.Fatal("a write went through after Halt")
	case <-time.After(50 * time.Millisecond):
	}
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "durable." {
		t.Fatalf("after the cut the file holds %q, want the fsynced %q", got, "durable.")
	}
}

// TestHaltDuringFsync: an fsync that has not completed when the power goes
// never returns, and what it was writing out is not durable.
func TestHaltDuringFsync(t *testing.T) {
	f := New()
	name := filepath.Join(t.TempDir(), "seg")
	h, err := f.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Write([]byte("in flight")); err != nil {
		t.Fatal(err)
	}
	inSync, release := make(chan struct{}), make(chan struct{})
	f.SetSyncHook(func(string) { close(inSync); <-release })
	returned := make(chan error, 1)
	go func() { returned <- h.Sync() }()
	<-inSync
	f.Halt()
	close(release)
	if err := f.Crash(DropUnsynced); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-returned:
		t.Fatalf("an fsync interrupted by the power cut returned %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if got, _ := os.ReadFile(name); len(got) != 0 {
		t.Fatalf("after the cut the file holds %q, want nothing", got)
	}
}

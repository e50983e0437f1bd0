package hub

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/edgelog/edgelog/hub/store"
	"github.com/edgelog/edgelog/internal/vfs"
)

func TestNewerDataFormatIsRefused(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	kv, err := store.OpenKV(vfs.OS{}, filepath.Join(dir, metaName))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := kv.Get(formatKey); string(v) != "1" {
		t.Fatalf("a new data directory records format %q, want 1", v)
	}
	if err := kv.Put(context.Background(), store.KVEntry{Key: formatKey, Value: []byte("99")}); err != nil {
		t.Fatal(err)
	}
	kv.Close()
	if _, err := Open(Config{Dir: dir}); !errors.Is(err, ErrNewerFormat) {
		t.Fatalf("Open of a format-99 directory = %v, want ErrNewerFormat", err)
	}
}

package shipper

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edgelog/edgelog/internal/faultfs"
	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/syncproto"
	"github.com/edgelog/edgelog/wal"
)

// TestShipperFollowsReopenedWAL: the WAL's fsync fails while the shipper
// tails it, and the log is reopened in place once the disk heals, as the
// agent does (wal.Log.Reopen). Meanwhile the hub restarts, so the shipper
// reconnects and its reader fails on the failed log. It keeps its *wal.Log,
// resumes by itself once the log is reopened, and the hub ends with every
// committed record exactly once — and not the record whose commit failed,
// whose sequence the reopened log gave to the next record.
func TestShipperFollowsReopenedWAL(t *testing.T) {
	h := startHub(t, syncproto.Limits{})
	ffs := faultfs.New()
	l, err := wal.Open(t.TempDir(), wal.Options{Fsync: wal.FsyncAlways, SegmentSize: 1 << 20, FS: ffs, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	w := &testWAL{t: t, log: l}
	s, _ := runShipper(t, w, h.addr, h.credentials("gw-reopen"), Config{})
	last := w.append(3000)
	waitAcked(t, s, last, 60*time.Second)

	ffs.SetSyncFault(0, faultfs.ErrInjected)
	doomed, err := record.Encode(&record.Record{ClientID: "dev-1", Topic: "telemetry/dev-1/temp", QoS: 1, Payload: []byte("doomed")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), doomed); err == nil {
		t.Fatal("append acknowledged although its fsync failed")
	}
	h.restart()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(s.SyncStatus().LastError, "read WAL") {
		if time.Now().After(deadline) {
			t.Fatalf("the shipper never read the failed WAL (status %+v)", s.SyncStatus())
		}
		time.Sleep(10 * time.Millisecond)
	}

	ffs.SetSyncFault(0, nil)
	if _, err := l.Reopen(context.Background()); err != nil {
		t.Fatal(err)
	}
	last = w.append(3000)
	waitAcked(t, s, last, 60*time.Second)
	checkExactlyOnce(t, h.records(), "gw-reopen", l.Epoch(), last)
}

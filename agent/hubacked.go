package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// hubAckedFile, in the data directory, keeps the highest sequence the hub
// reported as stored, with the epoch of the WAL it belongs to, so that a
// restarted agent knows it before the shipper's first contact: it trims
// the WAL below it again (a trim inside a segment keeps the records on
// disk), and counts lag and drop-oldest drops from it. The value only
// grows and is written without fsync every hubAckedSave: a lost or stale
// file means less trimming and overstated lag until the hub is reached,
// never a trim of what the hub lacks.
const (
	hubAckedFile    = "hub-acked.json"
	hubAckedSave    = time.Second
	maxHubAckedSize = 1 << 10
)

type hubAckedState struct {
	Epoch string `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

// loadHubAcked restores the hub's acknowledged sequence saved for this
// WAL epoch, if any, trimming the WAL below it.
func (a *Agent) loadHubAcked() {
	path := filepath.Join(a.cfg.DataDir, hubAckedFile)
	f, err := a.cfg.FS.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var st hubAckedState
	if err == nil {
		var b []byte
		b, err = io.ReadAll(io.NewSectionReader(f, 0, maxHubAckedSize))
		f.Close()
		if err == nil {
			err = json.Unmarshal(b, &st)
		}
	}
	switch {
	case err != nil:
		a.log.Warn("agent: ignoring the saved hub acknowledgement", "file", path, "err", err)
	case st.Epoch != a.wal.Epoch() || st.Seq >= a.wal.Next():
		a.log.Warn("agent: ignoring a hub acknowledgement saved for another WAL", "file", path,
			"saved_epoch", st.Epoch, "saved_seq", st.Seq, "epoch", a.wal.Epoch(), "next_seq", a.wal.Next())
	default:
		if err := a.quota.setHubAcked(st.Seq); err != nil {
			a.log.Warn("agent: could not trim the WAL below the saved hub acknowledgement", "seq", st.Seq, "err", err)
		}
	}
}

// saveHubAckedLoop saves the hub's acknowledged sequence whenever it has
// moved, every hubAckedSave, until ctx ends.
func (a *Agent) saveHubAckedLoop(ctx context.Context) {
	t := time.NewTicker(hubAckedSave)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.saveHubAcked()
		}
	}
}

// saveHubAcked writes the hub's acknowledged sequence if it moved since
// the last save (temporary file and rename, so a reader sees the old or
// the new value).
func (a *Agent) saveHubAcked() {
	seq := a.quota.hubAcked.Load()
	if seq == 0 || seq == a.savedHubAcked.Load() {
		return
	}
	b, _ := json.Marshal(hubAckedState{Epoch: a.wal.Epoch(), Seq: seq})
	path := filepath.Join(a.cfg.DataDir, hubAckedFile)
	tmp := path + ".tmp"
	f, err := a.cfg.FS.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = a.cfg.FS.Rename(tmp, path)
	}
	if err != nil {
		a.log.Warn("agent: could not save the hub acknowledgement", "file", path, "err", err)
		return
	}
	a.savedHubAcked.Store(seq)
}

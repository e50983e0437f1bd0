package wal

import (
	"fmt"

	"github.com/edgelog/edgelog/internal/vfs"
)

// NewEpoch gives the closed log in dir a new random epoch and returns the
// old and the new one. Its records and their sequences stay as they are;
// to the sync protocol the log is then a new one, so the hub takes every
// record it still holds again, under the new epoch. It is the way out of
// an epoch conflict (the hub holds more of the epoch than the log has,
// as after restoring the log from an older copy). It fails with ErrLocked
// while a process has the log open.
func NewEpoch(dir string) (old, epoch string, err error) {
	// Not a log: fail before lockDir creates its lock file there.
	if _, err := readMeta(vfs.OS{}, dir); err != nil {
		return "", "", fmt.Errorf("wal: read the epoch of %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return "", "", err
	}
	defer lock.Close()
	m, err := readMeta(vfs.OS{}, dir)
	if err != nil {
		return "", "", fmt.Errorf("wal: read the epoch of %s: %w", dir, err)
	}
	n, b := newMeta()
	if err := writeFileAtomic(vfs.OS{}, dir, metaFile, b); err != nil {
		return "", "", fmt.Errorf("wal: write %s: %w", metaFile, err)
	}
	return m.Epoch, n.Epoch, nil
}

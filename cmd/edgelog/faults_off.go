//go:build !edgelog_faults

package main

import (
	"log/slog"

	"github.com/edgelog/edgelog/internal/vfs"
)

// faultWALFS is the fault-injection hook of test builds (faults_on.go);
// a normal build has none and the WAL uses the real filesystem.
func faultWALFS(*slog.Logger) vfs.FS { return nil }

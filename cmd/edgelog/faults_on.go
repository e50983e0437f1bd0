//go:build edgelog_faults

package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgelog/edgelog/internal/faultfs"
	"github.com/edgelog/edgelog/internal/vfs"
)

// PowerCutEnv names the environment variable that, in a binary built with
// -tags edgelog_faults (the black-box tests build it so), puts the agent's
// WAL on a fault-injecting filesystem: SIGUSR1 then cuts the power. The
// value says what the cut leaves of the bytes written since the last fsync:
// drop (nothing), tear (the first half) or zero (zeros in their place).
const PowerCutEnv = "EDGELOG_FAULT_POWERCUT"

// faultWALFS returns the WAL's filesystem for a power-cut test, or nil.
// On SIGUSR1 it stops the disk (nothing more is written or fsynced), rewinds
// every WAL file to what was durable, and kills the process.
func faultWALFS(logger *slog.Logger) vfs.FS {
	var mode faultfs.CrashMode
	switch os.Getenv(PowerCutEnv) {
	case "":
		return nil
	case "drop":
		mode = faultfs.DropUnsynced
	case "tear":
		mode = faultfs.TearUnsynced
	case "zero":
		mode = faultfs.ZeroUnsynced
	default:
		logger.Error("unknown "+PowerCutEnv+" mode; no power cut armed", "mode", os.Getenv(PowerCutEnv))
		return nil
	}
	ffs := faultfs.New()
	cut := make(chan os.Signal, 1)
	signal.Notify(cut, syscall.SIGUSR1)
	go func() {
		<-cut
		ffs.Halt()
		err := ffs.Crash(mode)
		logger.Warn("power cut", "mode", os.Getenv(PowerCutEnv), "err", err)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}()
	logger.Warn("WAL on a fault-injecting filesystem: SIGUSR1 cuts the power", "mode", os.Getenv(PowerCutEnv))
	return ffs
}

// Package vfs is the narrow filesystem seam that durable code (the WAL, the
// hub's stores) goes through, so tests can put a fault-injecting layer
// (internal/faultfs) between the code and the disk.
//
// Contract: OS behaves exactly like package os; SyncDir opens the directory
// and fsyncs it, which is what makes a create, remove or rename durable on
// Linux filesystems.
package vfs

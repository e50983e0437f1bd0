// Package faultfs is a fault-injecting vfs.FS for durability tests. It wraps
// the real filesystem and can:
//
//   - fail writes with ENOSPC once a byte budget is spent (a full disk),
//     writing the part that fits first, as a real short write does;
//   - delay or fail fsyncs (a slow or dying disk);
//   - simulate a power cut: Crash rewinds every file it has seen to the
//     length last made durable by fsync, then optionally appends a torn part
//     of the lost bytes or zeros (ext4 after power loss);
//   - stop the disk under a running writer (Halt), so that a power cut can
//     be simulated inside a live process: Halt, then Crash, then exit.
//
// All methods are safe for concurrent use.
package faultfs

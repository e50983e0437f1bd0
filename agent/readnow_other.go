//go:build !unix

package agent

import "syscall"

// rawReads: connections read through net.Conn only.
const rawReads = false

// readNow is not used here (rawReads is false).
func readNow(uintptr, []byte) (int, error) { return 0, syscall.EINVAL }

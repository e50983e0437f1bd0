//go:build unix

package agent

import "syscall"

// rawReads: connections read through readNow.
const rawReads = true

// readNow reads what the non-blocking socket fd has received into b
// (syscall.EAGAIN: nothing yet; 0 and no error: end of stream).
func readNow(fd uintptr, b []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), b)
		if err == syscall.EINTR {
			continue
		}
		return max(n, 0), err
	}
}

//go:build unix

package proxy

import (
	"os"
	"syscall"
	"time"
)

// mapRead maps path read-only (an empty file is read).
func mapRead(path string) ([]byte, func(), error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() == 0 {
		return nil, func() {}, nil
	}
	data, err := syscall.Mmap(int(fh.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		data, err := os.ReadFile(path)
		return data, func() {}, err
	}
	return data, func() { syscall.Munmap(data) }, nil
}

// processGone reports whether process pid is not running.
func processGone(pid int, _ time.Time) bool {
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

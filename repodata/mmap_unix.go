//go:build unix

package repodata

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps path read-only into memory and reports whether it did
// (an empty file, or one that cannot be mapped, is read instead).
func mapFile(path string) ([]byte, func() error, bool, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, false, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, nil, false, err
	}
	size := st.Size()
	if size == 0 || !st.Mode().IsRegular() {
		data, err := os.ReadFile(path)
		return data, func() error { return nil }, false, err
	}
	if int64(int(size)) != size {
		return nil, nil, false, fmt.Errorf("%s: %d bytes is too large to map", path, size)
	}
	data, err := syscall.Mmap(int(fh.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		// Some file systems cannot be mapped; read the file instead.
		data, err := os.ReadFile(path)
		return data, func() error { return nil }, false, err
	}
	return data, func() error { return syscall.Munmap(data) }, true, nil
}

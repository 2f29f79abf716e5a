//go:build !unix

package client

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"time"
)

// staleLock is how old a lock file must be before it is taken to be left
// by a process that died while holding it. An update holds the lock for
// at most a few network timeouts.
const staleLock = 15 * time.Minute

// tryLock takes the lock by creating path+".held" exclusively, without
// waiting: ok is false when another holder has it. Without flock a lock of
// a process that died is only recognized by its age (staleLock).
func tryLock(path string) (unlock func(), ok bool, err error) {
	held := path + ".held"
	f, err := os.OpenFile(held, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		if st, serr := os.Stat(held); serr == nil && time.Since(st.ModTime()) > staleLock {
			os.Remove(held)
		}
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	f.Close()
	return func() { os.Remove(held) }, true, nil
}

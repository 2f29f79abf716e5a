package atomicfile

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// StaleAge is how old a temporary file must be before a later process
// removes it on systems where it cannot ask whether the process that made
// it is still running (all but Unix).
const StaleAge = 24 * time.Hour

// scanned holds the directories whose leftovers this process has removed:
// each directory is looked at once, at its first write.
var scanned sync.Map

// removeLeftovers removes, once per process and directory, the temporary
// files of processes that are gone.
func removeLeftovers(dir string) {
	key, err := filepath.Abs(dir)
	if err != nil {
		key = dir
	}
	if _, seen := scanned.LoadOrStore(key, true); seen {
		return
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range ents {
		pid, ok := leftoverPID(e.Name())
		if !ok || pid == self || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || !gone(pid, info.ModTime()) {
			continue
		}
		os.Remove(filepath.Join(dir, e.Name()))
	}
}

// leftoverPID returns the process id in the name of a temporary file
// written by this package: ".TARGET.condatrust-tmp-PID-RANDOM".
func leftoverPID(name string) (int, bool) {
	if !strings.HasPrefix(name, ".") {
		return 0, false
	}
	i := strings.LastIndex(name, tempMarker)
	if i < 1 {
		return 0, false
	}
	pidStr, rnd, ok := strings.Cut(name[i+len(tempMarker):], "-")
	if !ok || rnd == "" || strings.Trim(rnd, "0123456789abcdefghijklmnopqrstuvwxyz") != "" {
		return 0, false
	}
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 || strconv.Itoa(pid) != pidStr {
		return 0, false
	}
	return pid, true
}

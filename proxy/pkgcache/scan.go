package pkgcache

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// tempMarker is what internal/atomicfile puts in the name of its
// temporary files: ".TARGET.condatrust-tmp-PID-RANDOM".
const tempMarker = ".condatrust-tmp-"

// staleAge is the age past which a temporary file in the cache is a
// leftover whatever its process id says: a download in progress writes
// to its file far more often than that.
const staleAge = 24 * time.Hour

// scan indexes the files under Dir/sha256 and removes leftover temporary
// files. Indexed files are unverified until their first use. Other files
// are left alone and never served.
func (c *Cache) scan() error {
	root := filepath.Join(c.dir, shardRoot)
	shards, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	type found struct {
		en    *entry
		mtime time.Time
	}
	var all []found
	for _, sd := range shards {
		if !sd.IsDir() || !isHex(sd.Name(), 2) {
			continue
		}
		dir := filepath.Join(root, sd.Name())
		files, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, f := range files {
			name := f.Name()
			if !f.Type().IsRegular() {
				continue
			}
			info, err := f.Info()
			if err != nil {
				continue
			}
			switch {
			case isHex(name, 64) && name[:2] == sd.Name():
				all = append(all, found{&entry{sha: name, size: info.Size()}, info.ModTime()})
			case isLeftover(name, info.ModTime()):
				os.Remove(filepath.Join(dir, name))
			}
		}
	}
	// Oldest first, so that the newest ends up at the front of the list.
	sort.Slice(all, func(i, j int) bool { return all[i].mtime.Before(all[j].mtime) })
	for _, f := range all {
		f.en.elem = c.lru.PushFront(f.en)
		c.index[f.en.sha] = f.en
		c.bytes += f.en.size
	}
	return nil
}

// isHex reports whether s is n lowercase hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// isLeftover reports whether name is a temporary file of internal/atomicfile
// whose process is gone (or which is older than staleAge). A temporary
// file of this process belongs to a download in progress.
func isLeftover(name string, mtime time.Time) bool {
	i := strings.LastIndex(name, tempMarker)
	if !strings.HasPrefix(name, ".") || i < 1 {
		return false
	}
	pidStr, rnd, ok := strings.Cut(name[i+len(tempMarker):], "-")
	pid, err := strconv.Atoi(pidStr)
	if !ok || rnd == "" || err != nil || pid <= 0 {
		return false
	}
	if time.Since(mtime) > staleAge {
		return true
	}
	return pid != os.Getpid() && processGone(pid)
}

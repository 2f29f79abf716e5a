// Package atomicfile writes files so that readers see either the old
// content or the new content, never a mix: the data goes to a temporary file
// in the same directory, which is synced and then renamed over the target.
//
// # Interruption
//
// Every temporary file of the process is registered while it is in flight.
// [Interrupt] (called by a signal handler) removes them all and makes every
// later write fail with [ErrInterrupted], under the same lock as the final
// rename, so that it can say exactly which targets the process had already
// replaced: a file is either committed (and listed) or not touched.
//
// # Leftovers
//
// A temporary file is named ".TARGET.condatrust-tmp-PID-RANDOM". A process
// killed with SIGKILL (or by a power cut) cannot remove its own; the first
// write of a later process into the same directory removes every such file
// whose process is gone (on Unix: kill(PID, 0) fails with ESRCH; elsewhere:
// the file is older than [StaleAge]). A live process's temporary file is
// never touched, nor is any file not named this way.
//
// # Errors
//
// Errors of the write itself are [*Error]: "cannot write PATH: REASON",
// naming the file the caller asked for (never the temporary file) with the
// reason in words. They wrap the underlying error, so errors.Is(err,
// fs.ErrPermission) and the like still work. Errors returned by the fill
// function of [Write] are passed through unchanged, except that a failed
// write to the io.Writer it is given is an [*Error] too.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// ErrExists is returned by [WriteNew] when the target already exists.
var ErrExists = fs.ErrExist

// ErrInterrupted is matched by the error of every write that [Interrupt]
// stopped or that started after it.
var ErrInterrupted = errors.New("interrupted")

// Error is a failed write of Path.
type Error struct {
	// Path is the file the caller asked to write, as given.
	Path string
	// Err is the underlying error: an *fs.PathError, *os.LinkError or
	// *os.SyscallError from the file system, fs.ErrExist (from
	// [WriteNew]) or [ErrInterrupted].
	Err error
}

func (e *Error) Error() string { return "cannot write " + e.Path + ": " + e.reason() }

func (e *Error) Unwrap() error { return e.Err }

// reason words e.Err for a user: what went wrong with the file asked for.
func (e *Error) reason() string {
	dir := filepath.Dir(e.Path)
	switch {
	case errors.Is(e.Err, ErrInterrupted):
		return "interrupted"
	case errors.Is(e.Err, fs.ErrExist):
		return "it already exists; refusing to overwrite it"
	case errors.Is(e.Err, syscall.EISDIR):
		return "it is a directory"
	case errors.Is(e.Err, fs.ErrNotExist):
		return "no such directory " + dir
	case errors.Is(e.Err, syscall.ENOTDIR):
		if st, err := os.Stat(dir); err == nil && !st.IsDir() {
			return dir + " is not a directory"
		}
		return "part of its path is not a directory"
	case errors.Is(e.Err, fs.ErrPermission):
		return "permission denied"
	}
	// The innermost error is the reason in words ("no space left on
	// device", "read-only file system"); the operation and the name of the
	// temporary file around it are not for the user.
	err := e.Err
	for {
		var pe *fs.PathError
		var le *os.LinkError
		var se *os.SyscallError
		switch {
		case errors.As(err, &pe):
			err = pe.Err
		case errors.As(err, &le):
			err = le.Err
		case errors.As(err, &se):
			err = se.Err
		default:
			return err.Error()
		}
	}
}

// WriteFile atomically replaces path with data, with the given permissions.
// The directory is synced after the rename so the new name is durable.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write atomically replaces path with what fill writes. If fill returns an
// error, the target is left untouched, the temporary file is removed and
// fill's error is returned as it is.
func Write(path string, perm fs.FileMode, fill func(w io.Writer) error) error {
	tmp, err := create(path, perm)
	if err != nil {
		return err
	}
	if err := finish(tmp, path, fill); err != nil {
		return err
	}
	if err := commit(tmp.Name(), path, func() error { return os.Rename(tmp.Name(), path) }); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// WriteNew atomically creates path with data and fails with an error
// matching [ErrExists] if path already exists. It never replaces an existing
// file, even one created concurrently: the final step is a hard link, which
// fails when the name is taken.
func WriteNew(path string, data []byte, perm fs.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return &Error{Path: path, Err: ErrExists}
	}
	tmp, err := create(path, perm)
	if err != nil {
		return err
	}
	if err := finish(tmp, path, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		return err
	}
	err = commit(tmp.Name(), path, func() error {
		err := os.Link(tmp.Name(), path)
		os.Remove(tmp.Name())
		if errors.Is(err, fs.ErrExist) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// tempMarker sits between the target's name and the process id in the name
// of a temporary file.
const tempMarker = ".condatrust-tmp-"

// maxBase bounds the part of the target's name repeated in the temporary
// file's, so that a long target name does not make it too long.
const maxBase = 100

func tempName(dir, base string) string {
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	return filepath.Join(dir, "."+base+tempMarker+strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(rand.Uint64()>>16, 36))
}

func create(path string, perm fs.FileMode) (*os.File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if st, err := os.Lstat(path); err == nil && st.IsDir() {
		return nil, &Error{Path: path, Err: &fs.PathError{Op: "write", Path: path, Err: syscall.EISDIR}}
	}
	removeLeftovers(dir)
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.interrupted {
		return nil, &Error{Path: path, Err: ErrInterrupted}
	}
	var tmp *os.File
	var err error
	for range 10 {
		tmp, err = os.OpenFile(tempName(dir, base), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, &Error{Path: path, Err: err}
	}
	reg.inflight[tmp.Name()] = true
	return tmp, nil
}

// fileWriter is what fill writes to: write errors name the target.
type fileWriter struct {
	f    *os.File
	path string
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = &Error{Path: w.path, Err: err}
	}
	return n, err
}

func finish(tmp *os.File, path string, fill func(w io.Writer) error) error {
	err := fill(&fileWriter{f: tmp, path: path})
	if err == nil {
		if err = tmp.Sync(); err != nil {
			err = &Error{Path: path, Err: err}
		}
	}
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = &Error{Path: path, Err: cerr}
	}
	if err != nil {
		discard(tmp.Name())
	}
	return err
}

// commit runs op, the step that makes tmp the content of path, under the
// registry's lock: after [Interrupt] it fails with [ErrInterrupted] instead.
func commit(tmp, path string, op func() error) error {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	delete(reg.inflight, tmp)
	if reg.interrupted {
		os.Remove(tmp)
		return &Error{Path: path, Err: ErrInterrupted}
	}
	if err := op(); err != nil {
		os.Remove(tmp)
		return &Error{Path: path, Err: err}
	}
	switch {
	case reg.done[path]:
	case len(reg.committed) < maxListed:
		reg.done[path] = true
		reg.committed = append(reg.committed, path)
	default:
		reg.more++ // a long-running process (the proxy) writes without end
	}
	return nil
}

// discard removes a temporary file that will not be committed.
func discard(tmp string) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	delete(reg.inflight, tmp)
	os.Remove(tmp)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		// The rename has happened; a directory that cannot be opened for
		// syncing does not undo it.
		return nil
	}
	defer d.Close()
	// Some file systems do not support syncing a directory; the rename has
	// happened either way, so that error is not worth failing the write.
	_ = d.Sync()
	return nil
}

// reg is the process-wide registry of writes.
var reg = struct {
	mu          sync.Mutex
	inflight    map[string]bool // temporary files not yet committed or removed
	committed   []string        // targets replaced or created, in order, at most maxListed
	done        map[string]bool // the members of committed
	more        int             // writes committed after committed was full
	interrupted bool
}{inflight: map[string]bool{}, done: map[string]bool{}}

// maxListed bounds the targets the registry remembers, so that a process
// that writes for days (a server and its caches) does not grow it without
// end; later writes are only counted.
const maxListed = 64

// Interrupt stops every write of the process: it removes every temporary
// file in flight and makes every later write fail with [ErrInterrupted].
// It returns the targets this process had already committed (replaced or
// created), in order, each once, as their callers named them; past
// the first 64 targets, a last element "and N more write(s)" counts the
// rest. A write
// committing at the moment Interrupt is called either finishes first (and
// is listed) or fails. Interrupt is meant for a signal handler that exits
// the process right after; it cannot be undone.
func Interrupt() (committed []string) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	reg.interrupted = true
	for tmp := range reg.inflight {
		os.Remove(tmp)
	}
	clear(reg.inflight)
	out := append([]string(nil), reg.committed...)
	if reg.more > 0 {
		out = append(out, fmt.Sprintf("and %d more write(s)", reg.more))
	}
	return out
}

// Interrupted reports whether [Interrupt] has been called.
func Interrupted() bool {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return reg.interrupted
}

// InterruptedMessage words the outcome of an interrupted run for a user:
// "interrupted; nothing written" or "interrupted; wrote A, B".
func InterruptedMessage(committed []string) string {
	if len(committed) == 0 {
		return "interrupted; nothing written"
	}
	s := "interrupted; wrote "
	for i, p := range committed {
		if i > 0 {
			s += ", "
		}
		s += p
	}
	return s
}

// Remote runs write, a write made atomic elsewhere (an object storage
// PUT, visible whole or not at all), within the registry: after
// [Interrupt] it is not started and fails with [ErrInterrupted]; once it
// succeeds, target (as the user names it: an s3:// URL) is listed by
// [Interrupt] like a committed file. The registry's lock is not held
// while write runs, so that a signal is never kept waiting on the network;
// a write that completes after Interrupt is not listed, since the process
// is then exiting.
func Remote(target string, write func() error) error {
	if Interrupted() {
		return &Error{Path: target, Err: ErrInterrupted}
	}
	if err := write(); err != nil {
		return err
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	switch {
	case reg.interrupted, reg.done[target]:
	case len(reg.committed) < maxListed:
		reg.done[target] = true
		reg.committed = append(reg.committed, target)
	default:
		reg.more++
	}
	return nil
}

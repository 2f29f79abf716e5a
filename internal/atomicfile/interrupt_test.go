package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// resetRegistry undoes Interrupt for the next test. Tests that use it do
// not run in parallel.
func resetRegistry(t *testing.T) {
	reset := func() {
		reg.mu.Lock()
		defer reg.mu.Unlock()
		reg.interrupted = false
		reg.committed = nil
		reg.more = 0
		clear(reg.done)
		clear(reg.inflight)
	}
	reset()
	t.Cleanup(reset)
}

func TestTempFileName(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "repodata.json")
	var names []string
	err := Write(p, 0o644, func(w io.Writer) error {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			names = append(names, e.Name())
		}
		_, err := w.Write([]byte("x"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^\.repodata\.json\.condatrust-tmp-` + strconv.Itoa(os.Getpid()) + `-[0-9a-z]+$`)
	if len(names) != 1 || !want.MatchString(names[0]) {
		t.Fatalf("temporary files during the write: %q, want one matching %s", names, want)
	}
	if pid, ok := leftoverPID(names[0]); !ok || pid != os.Getpid() {
		t.Errorf("leftoverPID(%q) = %d, %v", names[0], pid, ok)
	}
}

func TestLeftoverPID(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  int
		ok   bool
	}{
		{".repodata.json.condatrust-tmp-123-abc9", 123, true},
		{".a.condatrust-tmp-7-z", 7, true},
		{".x.condatrust-tmp-123-abc.condatrust-tmp-45-q", 45, true},
		{"repodata.json.condatrust-tmp-123-abc", 0, false}, // no leading dot
		{".repodata.json.condatrust-tmp-123-", 0, false},
		{".repodata.json.condatrust-tmp-123", 0, false},
		{".repodata.json.condatrust-tmp-0123-a", 0, false},
		{".repodata.json.condatrust-tmp-x-a", 0, false},
		{".repodata.json.condatrust-tmp-12-A", 0, false},
		{".repodata.json.tmp-123456", 0, false}, // older naming: never touched
		{".condatrust-tmp-5-a", 0, false},
	} {
		pid, ok := leftoverPID(tc.name)
		if pid != tc.pid || ok != tc.ok {
			t.Errorf("leftoverPID(%q) = %d, %v; want %d, %v", tc.name, pid, ok, tc.pid, tc.ok)
		}
	}
}

// deadPID returns the id of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestLeftoversOfDeadProcessesRemoved(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("leftovers are recognized by age here")
	}
	dir := t.TempDir()
	dead := deadPID(t)
	files := map[string]bool{ // name -> expected to stay
		".f.json.condatrust-tmp-" + strconv.Itoa(dead) + "-abc":         false,
		".other.json.condatrust-tmp-" + strconv.Itoa(dead) + "-xyz":     false, // same directory, other target
		".f.json.condatrust-tmp-" + strconv.Itoa(os.Getppid()) + "-abc": true,  // a live process
		".f.json.condatrust-tmp-1-abc":                                  true,  // init: alive (or not ours to ask)
		".f.json.tmp-123":                                               true,  // not this package's name
		"f.json.condatrust-tmp-" + strconv.Itoa(dead) + "-abc":          true,  // no leading dot
		".hidden": true,
	}
	for name := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFile(filepath.Join(dir, "f.json"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, stay := range files {
		_, err := os.Lstat(filepath.Join(dir, name))
		if stay && err != nil {
			t.Errorf("%s was removed: %v", name, err)
		}
		if !stay && err == nil {
			t.Errorf("leftover %s of a dead process was not removed", name)
		}
	}
}

func TestInterruptRemovesInFlightAndStopsCommits(t *testing.T) {
	resetRegistry(t)
	dir := t.TempDir()
	done := filepath.Join(dir, "done.json")
	slow := filepath.Join(dir, "slow.json")
	if err := WriteFile(done, []byte("done"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(slow, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- Write(slow, 0o644, func(w io.Writer) error {
			w.Write([]byte("half"))
			close(started)
			<-release
			_, err := w.Write([]byte(" and the rest"))
			return err
		})
	}()
	<-started
	committed := Interrupt()
	if len(committed) != 1 || committed[0] != done {
		t.Errorf("Interrupt() = %q, want [%s]", committed, done)
	}
	assertNoTemp(t, dir) // removed while the fill is still writing
	close(release)
	err := <-errc
	var ae *Error
	if !errors.Is(err, ErrInterrupted) || !errors.As(err, &ae) || ae.Path != slow {
		t.Fatalf("interrupted Write: err = %v, want an *Error for %s matching ErrInterrupted", err, slow)
	}
	if want := "cannot write " + slow + ": interrupted"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if got, _ := os.ReadFile(slow); string(got) != "old" {
		t.Errorf("slow.json = %q, want old", got)
	}
	for _, write := range []func() error{
		func() error { return WriteFile(done, []byte("again"), 0o644) },
		func() error { return WriteNew(filepath.Join(dir, "new.pri"), []byte("k"), 0o600) },
	} {
		if err := write(); !errors.Is(err, ErrInterrupted) {
			t.Errorf("write after Interrupt: err = %v, want ErrInterrupted", err)
		}
	}
	if got, _ := os.ReadFile(done); string(got) != "done" {
		t.Errorf("done.json = %q after Interrupt, want done", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "new.pri")); err == nil {
		t.Error("WriteNew created a file after Interrupt")
	}
	assertNoTemp(t, dir)
	if again := Interrupt(); len(again) != 1 {
		t.Errorf("second Interrupt() = %q, want the same one file", again)
	}
}

// TestInterruptIsExact races Interrupt against many writers: a target is
// listed as committed exactly when its new content is on disk.
func TestInterruptIsExact(t *testing.T) {
	for round := range 20 {
		t.Run(strconv.Itoa(round), func(t *testing.T) {
			resetRegistry(t)
			dir := t.TempDir()
			const n = 40
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				p := filepath.Join(dir, fmt.Sprintf("f%02d", i))
				os.WriteFile(p, []byte("old"), 0o644)
				wg.Go(func() {
					<-start
					var err error
					if i%5 == 0 {
						os.Remove(p)
						err = WriteNew(p, []byte("new"), 0o644)
					} else {
						err = WriteFile(p, []byte("new"), 0o644)
					}
					if err != nil && !errors.Is(err, ErrInterrupted) {
						t.Errorf("%s: %v", p, err)
					}
				})
			}
			close(start)
			time.Sleep(time.Duration(round) * 150 * time.Microsecond)
			committed := Interrupt()
			wg.Wait()
			t.Logf("%d of %d writes committed before Interrupt", len(committed), n)
			listed := map[string]bool{}
			for _, p := range committed {
				listed[p] = true
			}
			for i := range n {
				p := filepath.Join(dir, fmt.Sprintf("f%02d", i))
				got, _ := os.ReadFile(p)
				if (string(got) == "new") != listed[p] {
					t.Errorf("%s: content %q, listed as committed: %v", p, got, listed[p])
				}
			}
			assertNoTemp(t, dir)
		})
	}
}

func TestInterruptedMessage(t *testing.T) {
	if got, want := InterruptedMessage(nil), "interrupted; nothing written"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if got, want := InterruptedMessage([]string{"a/b.json", "c"}), "interrupted; wrote a/b.json, c"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestErrorsNameTheTarget(t *testing.T) {
	dir := t.TempDir()
	chdir(t, dir)
	os.Mkdir("adir", 0o755)
	os.WriteFile("afile", []byte("x"), 0o644)
	os.WriteFile("exists.pri", []byte("x"), 0o600)
	for _, tc := range []struct {
		name  string
		write func() error
		msg   string
		is    error
	}{
		{"directory", func() error { return WriteFile("adir", []byte("x"), 0o644) }, "cannot write adir: it is a directory", nil},
		{"no directory", func() error { return WriteFile("out/x.json", []byte("x"), 0o644) }, "cannot write out/x.json: no such directory out", fs.ErrNotExist},
		{"file as directory", func() error { return WriteFile("afile/x.json", []byte("x"), 0o644) }, "cannot write afile/x.json: afile is not a directory", nil},
		{"exists", func() error { return WriteNew("exists.pri", []byte("x"), 0o600) }, "cannot write exists.pri: it already exists; refusing to overwrite it", ErrExists},
		{"new in missing directory", func() error { return WriteNew("keys/x.pri", []byte("x"), 0o600) }, "cannot write keys/x.pri: no such directory keys", fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.write()
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if err.Error() != tc.msg {
				t.Errorf("message %q, want %q", err, tc.msg)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
		})
	}
	assertNoTemp(t, dir)
}

func TestPermissionDenied(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("needs a Unix user without the power to write anywhere")
	}
	dir := t.TempDir()
	chdir(t, dir)
	os.Mkdir("keys", 0o555)
	err := WriteNew("keys/x.pri", []byte("x"), 0o600)
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("err = %v, want fs.ErrPermission", err)
	}
	if want := "cannot write keys/x.pri: permission denied"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

// TestWriterErrorNamesTarget: a failed write through the io.Writer given
// to fill names the target, not the temporary file.
func TestWriterErrorNamesTarget(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.json")
	err := Write(p, 0o644, func(w io.Writer) error {
		w.(*fileWriter).f.Close() // the next write fails
		_, err := w.Write([]byte("x"))
		return err
	})
	var ae *Error
	if !errors.As(err, &ae) || ae.Path != p {
		t.Fatalf("err = %v, want *Error for %s", err, p)
	}
	if strings.Contains(err.Error(), tempMarker) || !strings.HasPrefix(err.Error(), "cannot write "+p+": ") {
		t.Errorf("message %q should name %s only", err, p)
	}
	assertNoTemp(t, filepath.Dir(p))
}

func chdir(t *testing.T, dir string) {
	t.Helper()
	t.Chdir(dir)
}

// TestRegistryBounded: a process that writes without end (a server)
// keeps a bounded list; the rest is counted.
func TestRegistryBounded(t *testing.T) {
	resetRegistry(t)
	dir := t.TempDir()
	for i := 0; i < maxListed+10; i++ {
		if err := WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := Interrupt()
	if len(got) != maxListed+1 || got[maxListed] != "and 10 more write(s)" || len(reg.done) != maxListed {
		t.Errorf("%d listed, last %q, %d remembered", len(got), got[len(got)-1], len(reg.done))
	}
}

// TestRemote: a remote write is listed once it succeeds, not listed when
// it fails, and not started after Interrupt.
func TestRemote(t *testing.T) {
	resetRegistry(t)
	if err := Remote("s3://b/ch/noarch/repodata.json.zst", func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := Remote("s3://b/ch/noarch/repodata.json", func() error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failed remote write: %v", err)
	}
	got := Interrupt()
	if len(got) != 1 || got[0] != "s3://b/ch/noarch/repodata.json.zst" {
		t.Errorf("Interrupt listed %q", got)
	}
	called := false
	err := Remote("s3://b/ch/x", func() error { called = true; return nil })
	if called || !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "s3://b/ch/x") {
		t.Errorf("after Interrupt: write called %v, error %v", called, err)
	}
}

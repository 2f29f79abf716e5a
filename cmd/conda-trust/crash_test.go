//go:build unix

package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/internal/synth"
)

// TestCrashSafety kills conda-trust at random moments while it writes and
// checks what is left: every output file is byte for byte its old or its
// new version, the key files are intact, the trust store loads and
// verifies, and the next uninterrupted run leaves no temporary file. A few
// runs are stopped with SIGINT and SIGTERM instead, which must exit 130
// and 143 with one line naming exactly the files written.
//
// The commands: sign-repodata of a synthetic repodata (tens of MB), index
// of a channel of many small packages with --sign-key, fetch of a large
// package, and the trust-store update over a chain of roots. Each is run
// once without interruption first, from its "old" state, to get the new
// version of every output and its typical run time; kills land uniformly
// between a quarter of that and 1.15 times it.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds conda-trust and runs it 100+ times")
	}
	const killRunsPerCommand = 26
	start := time.Now()
	f := newCrashFixture(t)
	t.Logf("fixture ready in %v", time.Since(start).Round(time.Millisecond))

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (set CRASH_SEED to repeat)", seed)
	rng := mrand.New(mrand.NewPCG(seed, 0x636f6e6461))

	scenarios := []*crashScenario{f.signRepodata(), f.index(), f.fetch(), f.update()}
	for _, s := range scenarios {
		s.learn(t)
	}
	tally := map[string]int{}
	runs := 0
	for i := range killRunsPerCommand * len(scenarios) {
		s := scenarios[i%len(scenarios)]
		outcome := s.killRun(t, rng)
		tally[s.name+": "+outcome]++
		tally["all: "+outcome]++
		runs++
		if t.Failed() {
			break
		}
	}
	sigRuns := 0
	for _, s := range scenarios {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			outcome := s.signalRun(t, rng, sig)
			tally["signal: "+outcome]++
			sigRuns++
		}
	}
	for _, s := range scenarios {
		s.finalRun(t)
	}
	f.checkKeys(t)

	keys := make([]string, 0, len(tally))
	for k := range tally {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %-40s %d", k, tally[k])
	}
	t.Logf("%d SIGKILL runs and %d SIGINT/SIGTERM runs in %v; outcomes:%s",
		runs, sigRuns, time.Since(start).Round(time.Millisecond), b.String())
}

// Sizes of the inputs: large enough that many kills land mid-write, small
// enough that the whole test takes about a minute on two cores.
const (
	signRecords   = 12000    // records of the repodata signed (about 13 MB signed)
	indexPackages = 400      // packages of the channel indexed
	fetchSize     = 24 << 20 // bytes of the package fetched
	updateRoots   = 30       // roots published after the pinned one
)

type crashFixture struct {
	dir, bin string
	env      []string
	keys     map[string][]byte // the demo's key files, to check they stay intact
	pkgMgr   string            // the pkg_mgr private key file
	demo     string            // the demo's folder
	topLevel *bool             // whether "update", "add" are top-level verbs
}

func newCrashFixture(t *testing.T) *crashFixture {
	t.Helper()
	dir := t.TempDir()
	f := &crashFixture{dir: dir, bin: filepath.Join(dir, "bin", "conda-trust")}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	build := exec.Command(gobin, "build", "-o", f.bin, ".")
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	home := filepath.Join(dir, "home")
	f.env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		client.TrustDirEnv+"="+filepath.Join(home, "trust"), "NO_COLOR=1")
	f.demo = filepath.Join(dir, "demo")
	f.mustRun(t, "demo", f.demo)
	f.pkgMgr = filepath.Join(f.demo, "keys", "pkg_mgr.pri")
	f.keys = readTree(t, filepath.Join(f.demo, "keys"))
	return f
}

// mustRun runs conda-trust to completion and fails the test unless it
// exits 0.
func (f *crashFixture) mustRun(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(f.bin, args...)
	cmd.Env = f.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("conda-trust %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (f *crashFixture) checkKeys(t *testing.T) {
	t.Helper()
	if got := readTree(t, filepath.Join(f.demo, "keys")); !equalTrees(got, f.keys) {
		t.Errorf("the key files changed")
	}
}

// crashScenario is one command run again and again from its old state.
type crashScenario struct {
	f    *crashFixture
	name string
	root string   // every output, and every temporary file, is under root
	args []string // the command line
	// reset brings the outputs back to their old state; temporary files
	// left by killed runs stay.
	reset func(t *testing.T)
	// outputs returns the current output files (relative to root), those
	// checked byte for byte.
	outputs func(t *testing.T) map[string][]byte
	// check is called after every run, with the outputs; it checks what
	// byte comparison cannot (the trust store loads and verifies).
	check func(t *testing.T, got map[string][]byte)

	old, new map[string][]byte
	typical  time.Duration
}

// learn records the old outputs, runs the command once without
// interruption and records the new ones and the run time.
func (s *crashScenario) learn(t *testing.T) {
	t.Helper()
	s.reset(t)
	s.old = s.outputs(t)
	r := s.run(t, 0, 0, false)
	if !r.exited || r.code != 0 {
		t.Fatalf("%s: uninterrupted run: exit %d\n%s", s.name, r.code, r.stderr)
	}
	s.typical = r.dur
	s.new = s.outputs(t)
	if equalTrees(s.old, s.new) {
		t.Fatalf("%s: the run changed nothing; the test would prove nothing", s.name)
	}
	t.Logf("%s: %v per run, %d output files", s.name, s.typical.Round(time.Millisecond), len(s.new))
}

type runResult struct {
	exited bool // exited by itself (else killed by the signal)
	code   int
	stderr string
	pid    int
	dur    time.Duration
}

// run runs the command and sends it sig (0: none) after delay. With
// midWrite, the delay counts from the moment the process has a temporary
// file of its own (its handler is installed by then); if it exits before,
// no signal is sent.
func (s *crashScenario) run(t *testing.T, delay time.Duration, sig syscall.Signal, midWrite bool) runResult {
	t.Helper()
	cmd := exec.Command(s.f.bin, s.args...)
	cmd.Env = s.f.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := runResult{pid: cmd.Process.Pid}
	exited := make(chan struct{})
	if sig != 0 {
		go func() {
			if midWrite {
				marker := tempMarkerName + strconv.Itoa(r.pid) + "-"
				for len(tempFiles(t, s.root, marker)) == 0 {
					select {
					case <-exited:
						return
					case <-time.After(time.Millisecond):
					}
				}
			}
			select {
			case <-exited:
			case <-time.After(delay):
				cmd.Process.Signal(sig)
			}
		}()
	}
	err := cmd.Wait()
	close(exited)
	r.dur, r.stderr = time.Since(begin), stderr.String()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	r.exited = ws.Exited()
	r.code = ws.ExitStatus()
	return r
}

// killRun resets the old state, kills a run with SIGKILL at a random
// moment and checks what is left. It returns the outcome.
func (s *crashScenario) killRun(t *testing.T, rng *mrand.Rand) string {
	t.Helper()
	s.reset(t)
	// Kills in the first quarter of a run would mostly hit the start of
	// the process, before anything is written.
	delay := s.typical/4 + time.Duration(rng.Int64N(int64(s.typical)*9/10))
	r := s.run(t, delay, syscall.SIGKILL, false)
	if r.exited && r.code != 0 {
		t.Errorf("%s: run exited %d before the kill:\n%s", s.name, r.code, r.stderr)
	}
	got := s.outputs(t)
	nOld, nNew := s.classify(t, got)
	if s.check != nil {
		s.check(t, got)
	}
	s.f.checkKeys(t)
	outcome := "killed, "
	if r.exited {
		// The machine got faster (less loaded) than when the run time was
		// measured: aim the next kills at the run time seen now.
		s.typical = (s.typical + r.dur) / 2
		outcome = "finished before the kill, "
		if nOld > 0 {
			t.Errorf("%s: the run finished but %d files are old", s.name, nOld)
		}
	}
	switch {
	case nNew == 0:
		outcome += "all old"
	case nOld == 0:
		outcome += "all new"
	default:
		outcome += "some files new"
	}
	if own := tempFiles(t, s.root, tempMarkerName+strconv.Itoa(r.pid)+"-"); len(own) > 0 {
		if r.exited {
			t.Errorf("%s: a run that finished left temporary files: %v", s.name, own)
		}
		outcome += ", temp file left (killed mid-write)"
	}
	return outcome
}

// classify checks that every output is its old or its new version (absent
// counts as old when it was absent before) and counts them.
func (s *crashScenario) classify(t *testing.T, got map[string][]byte) (nOld, nNew int) {
	t.Helper()
	names := map[string]bool{}
	for _, m := range []map[string][]byte{got, s.old, s.new} {
		for n := range m {
			names[n] = true
		}
	}
	for n := range names {
		g, have := got[n]
		o, hadOld := s.old[n]
		w, hasNew := s.new[n]
		switch {
		case have == hadOld && bytes.Equal(g, o) && have == hasNew && bytes.Equal(g, w):
			// unchanged by the command
		case have == hadOld && bytes.Equal(g, o):
			nOld++
		case have == hasNew && bytes.Equal(g, w):
			nNew++
		default:
			t.Errorf("%s: %s is neither its old nor its new version (%d bytes; old %d, new %d)", s.name, n, len(g), len(o), len(w))
		}
	}
	return nOld, nNew
}

// signalRun stops a run with SIGINT or SIGTERM while it writes: once the
// process has a temporary file, after a random delay of up to a third of
// its typical run time. It must exit 130 or 143 (or 0 if it finished
// first), print one line naming exactly the files written, and leave no
// temporary file of its own.
func (s *crashScenario) signalRun(t *testing.T, rng *mrand.Rand, sig syscall.Signal) string {
	t.Helper()
	s.reset(t)
	r := s.run(t, time.Duration(rng.Int64N(int64(s.typical)/3)), sig, true)
	got := s.outputs(t)
	s.classify(t, got)
	if s.check != nil {
		s.check(t, got)
	}
	if tmp := tempFiles(t, s.root, tempMarkerName+strconv.Itoa(r.pid)+"-"); len(tmp) > 0 {
		t.Errorf("%s: %v: temporary files left: %v", s.name, sig, tmp)
	}
	want := map[syscall.Signal]int{syscall.SIGINT: 130, syscall.SIGTERM: 143}[sig]
	if r.exited && r.code == 0 {
		return sig.String() + ": finished first"
	}
	if !r.exited || r.code != want {
		t.Errorf("%s: %v: pid %d exited %v, code %d; want exit %d\n%s", s.name, sig, r.pid, r.exited, r.code, want, r.stderr)
		return sig.String() + ": wrong exit"
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "conda-trust: interrupted; ") {
		t.Errorf("%s: %v: stderr %q, want one line 'conda-trust: interrupted; ...'", s.name, sig, r.stderr)
	}
	// The line names exactly the files written: each has its new content,
	// and every file that changed is named.
	line := strings.TrimSpace(strings.TrimPrefix(r.stderr, "conda-trust: interrupted; "))
	listed := map[string]bool{}
	if line != "nothing written" {
		for _, p := range strings.Split(strings.TrimPrefix(line, "wrote "), ", ") {
			rel, err := filepath.Rel(s.root, p)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s: %v: the message names %s, outside the outputs", s.name, sig, p)
				continue
			}
			listed[rel] = true
		}
	}
	for n := range listed {
		_, tracked := s.new[n]
		if _, wasOld := s.old[n]; !tracked && !wasOld {
			// Not compared byte for byte (the index cache): it must exist.
			if _, err := os.Stat(filepath.Join(s.root, n)); err != nil {
				t.Errorf("%s: %v: the message says %s was written: %v", s.name, sig, n, err)
			}
			continue
		}
		if w, ok := s.new[n]; !ok || !bytes.Equal(got[n], w) {
			t.Errorf("%s: %v: the message says %s was written, but it does not have its new content", s.name, sig, n)
		}
	}
	for n, g := range got {
		if o, ok := s.old[n]; (!ok || !bytes.Equal(g, o)) && !listed[n] {
			t.Errorf("%s: %v: %s changed, but the message (%q) does not say so", s.name, sig, n, line)
		}
	}
	if len(listed) == 0 {
		return sig.String() + ": exit " + strconv.Itoa(r.code) + ", nothing written"
	}
	return sig.String() + ": exit " + strconv.Itoa(r.code) + ", some files written"
}

// finalRun runs the command once more without interruption, from the old
// state and after all the kills: it gives the new outputs and removes
// every temporary file the killed runs left.
func (s *crashScenario) finalRun(t *testing.T) {
	t.Helper()
	s.reset(t)
	r := s.run(t, 0, 0, false)
	if !r.exited || r.code != 0 {
		t.Fatalf("%s: final run: exit %d\n%s", s.name, r.code, r.stderr)
	}
	if got := s.outputs(t); !equalTrees(got, s.new) {
		t.Errorf("%s: the final run's outputs differ from the first run's", s.name)
	}
	if tmp := tempFiles(t, s.root, tempMarkerName); len(tmp) > 0 {
		t.Errorf("%s: temporary files left after an uninterrupted run: %v", s.name, tmp)
	}
}

func (f *crashFixture) scenario(s *crashScenario) *crashScenario {
	s.f = f
	return s
}

// signRepodata: sign-repodata of a synthetic repodata.json (about 13 MB
// signed) to -o OUT, whose old version is a signed repodata of other
// records.
func (f *crashFixture) signRepodata() *crashScenario {
	root := filepath.Join(f.dir, "sign")
	os.MkdirAll(root, 0o755)
	in := filepath.Join(root, "repodata.json")
	out := filepath.Join(root, "signed", "repodata.json")
	keyMgr := filepath.Join(f.demo, "channel", "key_mgr.json")
	var old []byte
	return f.scenario(&crashScenario{
		name: "sign-repodata",
		root: root,
		args: []string{"sign-repodata", in, "--key", f.pkgMgr, "--key-mgr", keyMgr, "-o", out, "--quiet"},
		reset: func(t *testing.T) {
			if old == nil {
				os.MkdirAll(filepath.Dir(out), 0o755)
				mustWrite(t, in, synth.Repodata(signRecords/4, "old"))
				f.mustRun(t, "sign-repodata", in, "--key", f.pkgMgr, "--key-mgr", keyMgr, "-o", out, "--quiet")
				old, _ = os.ReadFile(out)
				mustWrite(t, in, synth.Repodata(signRecords, "new"))
			}
			if cur, _ := os.ReadFile(out); !bytes.Equal(cur, old) {
				mustWrite(t, out, old)
			}
		},
		outputs: func(t *testing.T) map[string][]byte { return readFiles(t, root, "signed/repodata.json") },
	})
}

// index: index --sign-key of a channel of many small packages, whose old
// outputs are those of the channel before one more package was added.
func (f *crashFixture) index() *crashScenario {
	root := filepath.Join(f.dir, "index")
	sub := "linux-64"
	outputs := []string{}
	for _, s := range []string{sub, "noarch"} {
		for _, n := range []string{"repodata.json", "repodata.json.zst", "repodata_from_packages.json", "repodata_from_packages.json.zst"} {
			outputs = append(outputs, filepath.Join(s, n))
		}
	}
	cacheKey := filepath.Join(f.dir, "index-cache.key")
	args := []string{"index", root, "--sign-key", f.pkgMgr, "--cache-key", cacheKey, "--no-cache", "--quiet"}
	var old map[string][]byte
	return f.scenario(&crashScenario{
		name: "index",
		root: root,
		args: args,
		reset: func(t *testing.T) {
			if old == nil {
				for _, n := range []string{"1.root.json", "key_mgr.json"} {
					data, err := os.ReadFile(filepath.Join(f.demo, "channel", n))
					if err != nil {
						t.Fatal(err)
					}
					mustWrite(t, filepath.Join(root, n), data)
				}
				key := make([]byte, 32)
				rand.Read(key)
				mustWrite(t, cacheKey, key)
				for i := range indexPackages {
					writePackage(t, filepath.Join(root, sub), i, 200)
				}
				f.mustRun(t, args...)
				old = readFiles(t, root, outputs...)
				writePackage(t, filepath.Join(root, sub), indexPackages, 200)
			}
			for _, n := range outputs {
				if cur, _ := os.ReadFile(filepath.Join(root, n)); !bytes.Equal(cur, old[n]) {
					mustWrite(t, filepath.Join(root, n), old[n])
				}
			}
		},
		outputs: func(t *testing.T) map[string][]byte { return readFiles(t, root, outputs...) },
	})
}

// fetch: fetch of a large package (24 MB) from the demo's channel into a
// folder where it is not yet.
func (f *crashFixture) fetch() *crashScenario {
	root := filepath.Join(f.dir, "fetch")
	channel := filepath.Join(f.demo, "channel")
	url := "file://" + channel
	store := filepath.Join(root, "trust")
	name := "big-1.0-0.conda"
	ready := false
	s := &crashScenario{
		name: "fetch",
		root: root,
		args: []string{"fetch", url, "noarch/" + name, "-o", filepath.Join(root, "downloads"), "--trust-dir", store},
		reset: func(t *testing.T) {
			if !ready {
				spec := condapkg.Spec{Name: "big", Version: "1.0", Build: "0", License: "MIT",
					Files: map[string][]byte{"share/big/data.bin": randomBytes(fetchSize)}}
				if _, err := spec.WriteTo(filepath.Join(channel, "noarch"), condapkg.Conda, condapkg.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
				f.mustRun(t, "index", channel, "--sign-key", f.pkgMgr, "--cache-key", filepath.Join(f.demo, "keys", "index-cache.key"), "--quiet")
				f.mustRun(t, f.trustArgs("add", url, "--root", filepath.Join(channel, "1.root.json"), "--trust-dir", store)...)
				f.mustRun(t, f.trustArgs("update", url, "--trust-dir", store)...)
				ready = true
			}
			os.Remove(filepath.Join(root, "downloads", name))
		},
		outputs: func(t *testing.T) map[string][]byte {
			out := readFiles(t, root, filepath.Join("downloads", name))
			maps := readTree(t, store)
			for n, data := range maps {
				if !strings.HasSuffix(n, ".lock") && !strings.Contains(n, tempMarkerName) {
					out[filepath.Join("trust", n)] = data
				}
			}
			return out
		},
	}
	s.check = func(t *testing.T, _ map[string][]byte) { checkStore(t, store, url) }
	return f.scenario(s)
}

// update: the trust-store update of a channel that published 30 roots
// after the pinned one, and a new key_mgr.
func (f *crashFixture) update() *crashScenario {
	root := filepath.Join(f.dir, "update")
	channel := filepath.Join(root, "channel")
	url := "file://" + channel
	store := filepath.Join(root, "trust")
	const roots = updateRoots
	var oldKeyMgr []byte
	var chDir string
	s := &crashScenario{
		name: "update",
		root: root,
		reset: func(t *testing.T) {
			if oldKeyMgr == nil {
				for _, n := range []string{"1.root.json", "key_mgr.json"} {
					data, err := os.ReadFile(filepath.Join(f.demo, "channel", n))
					if err != nil {
						t.Fatal(err)
					}
					mustWrite(t, filepath.Join(channel, n), data)
				}
				f.mustRun(t, f.trustArgs("add", url, "--root", filepath.Join(channel, "1.root.json"), "--trust-dir", store)...)
				f.mustRun(t, f.trustArgs("update", url, "--trust-dir", store)...)
				st := &client.Store{Dir: store}
				ch, err := st.Channel(url)
				if err != nil {
					t.Fatal(err)
				}
				chDir = ch.Dir
				oldKeyMgr, _ = os.ReadFile(filepath.Join(chDir, "key_mgr.json"))
				// Publish roots 2..31 (same keys) and key_mgr v2, in process.
				keys := filepath.Join(f.demo, "keys")
				for v := 2; v <= roots+1; v++ {
					prev := filepath.Join(channel, strconv.Itoa(v-1)+".root.json")
					next := filepath.Join(channel, strconv.Itoa(v)+".root.json")
					mainOK(t, "root", "next", prev, "-o", next)
					mainOK(t, "sign-metadata", next, "--key", filepath.Join(keys, "root1.pri"), "--key", filepath.Join(keys, "root2.pri"))
				}
				km := filepath.Join(channel, "key_mgr.json")
				mainOK(t, "key-mgr", "next", km, "-o", km, "--force")
				mainOK(t, "sign-metadata", km, "--key", filepath.Join(keys, "key_mgr.pri"))
			}
			ents, _ := os.ReadDir(chDir)
			for _, e := range ents {
				if n := e.Name(); strings.HasSuffix(n, ".root.json") && n != "1.root.json" && !strings.HasPrefix(n, ".") {
					os.Remove(filepath.Join(chDir, n))
				}
			}
			if cur, _ := os.ReadFile(filepath.Join(chDir, "key_mgr.json")); !bytes.Equal(cur, oldKeyMgr) {
				mustWrite(t, filepath.Join(chDir, "key_mgr.json"), oldKeyMgr)
			}
		},
		outputs: func(t *testing.T) map[string][]byte {
			out := map[string][]byte{}
			for n, data := range readTree(t, store) {
				if !strings.HasSuffix(n, ".lock") && !strings.Contains(n, tempMarkerName) {
					out[filepath.Join("trust", n)] = data
				}
			}
			return out
		},
	}
	s.check = func(t *testing.T, got map[string][]byte) {
		checkStore(t, store, url)
		// The roots stored are 1..N without a gap, and the new key_mgr
		// only after every root.
		var vs []int
		hasNewKM := false
		for n, data := range got {
			switch base := filepath.Base(n); {
			case strings.HasSuffix(base, ".root.json"):
				v, _ := strconv.Atoi(strings.TrimSuffix(base, ".root.json"))
				vs = append(vs, v)
			case base == "key_mgr.json":
				hasNewKM = !bytes.Equal(data, oldKeyMgr)
			}
		}
		slices.Sort(vs)
		for i, v := range vs {
			if v != i+1 {
				t.Errorf("update: stored roots %v have a gap", vs)
				break
			}
		}
		if hasNewKM && len(vs) != roots+1 {
			t.Errorf("update: new key_mgr.json stored with only roots %v", vs)
		}
	}
	s.args = f.trustArgs("update", url, "--trust-dir", store)
	return f.scenario(s)
}

// trustArgs returns the command line of a trust-store verb: "update URL"
// since the top-level verbs landed, "trust update URL" before.
func (f *crashFixture) trustArgs(verb string, rest ...string) []string {
	if f.topLevel == nil {
		cmd := exec.Command(f.bin, verb, "--help")
		cmd.Env = f.env
		ok := cmd.Run() == nil
		f.topLevel = &ok
	}
	if *f.topLevel {
		return append([]string{verb}, rest...)
	}
	return append([]string{"trust", verb}, rest...)
}

// tempMarkerName is in the name of every temporary file atomicfile writes.
const tempMarkerName = ".condatrust-tmp-"

// tempFiles lists the temporary files under root whose names contain
// marker (tempMarkerName for all of them).
func tempFiles(t *testing.T, root, marker string) []string {
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), marker) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// readTree reads every regular file under root, by path relative to root.
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a temporary file removed meanwhile
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readFiles reads the named files under root; missing ones are left out.
func readFiles(t *testing.T, root string, names ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(root, n))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[n] = data
	}
	return out
}

func equalTrees(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for n, d := range a {
		if e, ok := b[n]; !ok || !bytes.Equal(d, e) {
			return false
		}
	}
	return true
}

// mustWrite writes a fixture file directly (not through conda-trust).
func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// mainOK runs conda-trust in process for fixtures.
func mainOK(t *testing.T, args ...string) {
	t.Helper()
	var out bytes.Buffer
	if code := Main(args, &out, &out); code != 0 {
		t.Fatalf("conda-trust %s: exit %d\n%s", strings.Join(args, " "), code, out.String())
	}
}

// writePackage writes small package number i (size bytes of payload) to
// dir, a linux-64 subdir. It is written in memory and saved without the
// fsyncs of an atomic write: these are fixtures, and there are many.
func writePackage(t *testing.T, dir string, i, size int) {
	t.Helper()
	spec := condapkg.Spec{Name: "pkg" + strconv.Itoa(i), Version: "1.0", Build: "0", Subdir: "linux-64",
		License: "MIT", Timestamp: 1700000000000}
	index, err := spec.IndexJSON()
	if err != nil {
		t.Fatal(err)
	}
	src := fstest.MapFS{
		"info/index.json": {Data: index, Mode: 0o644},
		"share/pkg/data":  {Data: bytes.Repeat([]byte{byte(i)}, size), Mode: 0o644},
	}
	var buf bytes.Buffer
	format := condapkg.Conda
	if i%3 == 0 {
		format = condapkg.TarBz2
		err = condapkg.WriteTarBz2(&buf, src, condapkg.WriteOptions{})
	} else {
		err = condapkg.WriteConda(&buf, spec.Stem(), src, condapkg.WriteOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, spec.Filename(format)), buf.Bytes())
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// checkStore checks that the trust store loads and verifies: the newest
// root against its own keys, and the key_mgr against it.
func checkStore(t *testing.T, dir, url string) {
	t.Helper()
	c := &client.Client{Store: &client.Store{Dir: dir}}
	st, err := c.Load(url)
	if err != nil {
		t.Errorf("trust store %s does not load: %v", dir, err)
		return
	}
	if _, err := st.Verifier(); err != nil {
		t.Errorf("trust store %s: %v", dir, err)
	}
}

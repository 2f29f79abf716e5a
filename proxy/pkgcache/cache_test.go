package pkgcache

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/trust"
)

// pkg returns n bytes derived from seed and the record's expectation of
// them (with an md5, as most records have).
func pkg(seed uint64, n int) ([]byte, repodata.Expect) {
	r := rand.New(rand.NewPCG(seed, 42))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	s, m := sha256.Sum256(b), md5.Sum(b)
	return b, repodata.Expect{Filename: fmt.Sprintf("p%d-1.0-0.conda", seed), Size: int64(n), SHA256: s[:], MD5: m[:]}
}

// fetcher serves body and counts its calls.
type fetcher struct {
	body  []byte
	calls atomic.Int64
}

func (f *fetcher) fetch(ctx context.Context) (io.ReadCloser, error) {
	f.calls.Add(1)
	return io.NopCloser(bytes.NewReader(f.body)), nil
}

func mustFail(t *testing.T) Fetcher {
	return func(context.Context) (io.ReadCloser, error) {
		t.Error("unexpected fetch")
		return nil, errors.New("unexpected fetch")
	}
}

func open(t testing.TB, opts Options) *Cache {
	t.Helper()
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// read returns the content served for en, through Open.
func read(t testing.TB, en *Entry) []byte {
	t.Helper()
	f, err := en.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// files lists every file under dir, relative.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func get(t testing.TB, c *Cache, e repodata.Expect, f Fetcher) *Entry {
	t.Helper()
	en, err := c.Get(context.Background(), e, f)
	if err != nil {
		t.Fatal(err)
	}
	return en
}

func TestHitMiss(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	c := open(t, Options{Dir: dir})
	body, e := pkg(1, 100_000)
	f := &fetcher{body: body}

	en := get(t, c, e, f.fetch)
	if en.Hit {
		t.Error("first Get is a hit")
	}
	if got := read(t, en); !bytes.Equal(got, body) {
		t.Fatal("served bytes differ")
	}
	sha := fmt.Sprintf("%x", e.SHA256)
	if want := filepath.Join(dir, "sha256", sha[:2], sha); en.Path != want || en.SHA256 != sha || en.Size != e.Size {
		t.Errorf("entry = %+v, want path %s", en, want)
	}
	if fi, err := os.Stat(filepath.Join(dir)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode: %v %v", fi.Mode(), err)
	}

	en = get(t, c, e, mustFail(t))
	if !en.Hit {
		t.Error("second Get is not a hit")
	}
	if got := read(t, en); !bytes.Equal(got, body) {
		t.Fatal("served bytes differ on hit")
	}
	// Open again after the first handle was taken.
	if got := read(t, en); !bytes.Equal(got, body) {
		t.Fatal("served bytes differ on second Open")
	}
	want := Stats{Hits: 1, Misses: 1, Downloads: 1, Bytes: e.Size, Entries: 1}
	if s := c.Stats(); s != want {
		t.Errorf("stats = %+v, want %+v", s, want)
	}
	if f.calls.Load() != 1 {
		t.Errorf("%d fetches", f.calls.Load())
	}
}

func TestEmptyPackage(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir()})
	body, e := pkg(2, 0)
	en := get(t, c, e, (&fetcher{body: body}).fetch)
	if got := read(t, en); len(got) != 0 {
		t.Fatal("not empty")
	}
	if en = get(t, c, e, mustFail(t)); !en.Hit {
		t.Error("not a hit")
	}
	en.Close()
}

func TestNoDigest(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir()})
	_, e := pkg(3, 10)
	for _, bad := range []repodata.Expect{{Filename: "x", Size: 10}, {Filename: "x", Size: -1, SHA256: e.SHA256}} {
		if _, err := c.Get(context.Background(), bad, mustFail(t)); err == nil || errors.Is(err, trust.ErrVerification) {
			t.Errorf("%+v: err = %v", bad, err)
		}
	}
}

func TestConcurrentGetsShareOneFetch(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir()})
	body, e := pkg(4, 300_000)
	sha := fmt.Sprintf("%x", e.SHA256)
	gate := make(chan struct{})
	var calls atomic.Int64
	fetch := func(ctx context.Context) (io.ReadCloser, error) {
		calls.Add(1)
		<-gate
		return io.NopCloser(bytes.NewReader(body)), nil
	}
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			en, err := c.Get(context.Background(), e, fetch)
			if err != nil {
				errs <- err
				return
			}
			f, err := en.Open()
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			got, err := io.ReadAll(f)
			if err == nil && !bytes.Equal(got, body) {
				err = errors.New("bytes differ")
			}
			if err == nil && en.Hit {
				err = errors.New("hit while waiting for the download")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.calls[sha] != nil && c.calls[sha].waiters == n
	})
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if calls.Load() != 1 {
		t.Errorf("%d fetches, want 1", calls.Load())
	}
	if s := c.Stats(); s.Downloads != 1 || s.Misses != n || s.Entries != 1 {
		t.Errorf("stats = %+v", s)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// resetAfter is a body that sends n bytes and then fails as a reset
// connection does.
type resetAfter struct {
	r io.Reader
}

func (r *resetAfter) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err == io.EOF {
		return n, errors.New("read tcp: connection reset by peer")
	}
	return n, err
}

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

var errBadGateway = errors.New("502 Bad Gateway")

func TestTamperedBodyNeverCached(t *testing.T) {
	body, e := pkg(5, 200_000)
	wrong := bytes.Clone(body)
	wrong[len(wrong)/2] ^= 1

	// An upstream that cuts the connection mid-body, as HTTP sees it.
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer cut.Close()
	httpFetch := func(ctx context.Context) (io.ReadCloser, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", cut.URL, nil)
		if err != nil {
			return nil, err
		}
		resp, err := cut.Client().Do(req)
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	}

	reader := func(r io.Reader) Fetcher {
		return func(context.Context) (io.ReadCloser, error) { return io.NopCloser(r), nil }
	}
	for _, tc := range []struct {
		name    string
		fetch   func() Fetcher
		refusal bool // else a fetch error
	}{
		{"wrong bytes", func() Fetcher { return reader(bytes.NewReader(wrong)) }, true},
		{"wrong md5 only", nil, true}, // set below: the record's md5 is checked too
		{"one byte too long", func() Fetcher { return reader(bytes.NewReader(append(bytes.Clone(body), 0))) }, true},
		{"endless", func() Fetcher { return reader(endless{}) }, true},
		{"one byte too short", func() Fetcher { return reader(bytes.NewReader(body[:len(body)-1])) }, true},
		{"reset mid-body", func() Fetcher { return reader(&resetAfter{bytes.NewReader(body[:len(body)/3])}) }, false},
		{"http cut mid-body", func() Fetcher { return httpFetch }, false},
		{"fetch fails", func() Fetcher {
			return func(context.Context) (io.ReadCloser, error) { return nil, errBadGateway }
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := open(t, Options{Dir: dir})
			e := e
			fetch := tc.fetch
			if fetch == nil {
				e.MD5 = bytes.Clone(e.MD5)
				e.MD5[0] ^= 1
				fetch = func() Fetcher { return reader(bytes.NewReader(body)) }
			}
			_, err := c.Get(context.Background(), e, fetch())
			if err == nil {
				t.Fatal("accepted")
			}
			var ve *trust.VerificationError
			if got := errors.As(err, &ve); got != tc.refusal || errors.Is(err, trust.ErrVerification) != tc.refusal {
				t.Fatalf("refusal = %v, want %v: %v", got, tc.refusal, err)
			}
			if tc.name == "fetch fails" && !errors.Is(err, errBadGateway) {
				t.Errorf("fetch error not wrapped: %v", err)
			}
			if tc.refusal && ve.Rule != trust.RuleArtifactHash {
				t.Errorf("rule %s", ve.Rule)
			}
			if fs := files(t, dir); len(fs) != 0 {
				t.Errorf("left in the cache: %v", fs)
			}
			s := c.Stats()
			if s.Entries != 0 || s.Bytes != 0 || (s.Refused == 1) != tc.refusal {
				t.Errorf("stats = %+v", s)
			}
			if tc.name == "wrong md5 only" {
				return // no good bytes exist for this record
			}
			// The cache is not poisoned: good bytes are accepted next.
			en := get(t, c, e, (&fetcher{body: body}).fetch)
			if en.Hit || !bytes.Equal(read(t, en), body) {
				t.Error("good download not served")
			}
			if en := get(t, c, e, mustFail(t)); !en.Hit {
				t.Error("not cached")
			} else {
				en.Close()
			}
		})
	}
}

func TestEvictionLRU(t *testing.T) {
	const size = 10_000
	dir := t.TempDir()
	c := open(t, Options{Dir: dir, MaxBytes: 3 * size})
	var bodies [5][]byte
	var exps [5]repodata.Expect
	for i := range bodies {
		bodies[i], exps[i] = pkg(uint64(10+i), size)
	}
	for i := range 3 {
		get(t, c, exps[i], (&fetcher{body: bodies[i]}).fetch).Close()
	}
	get(t, c, exps[0], mustFail(t)).Close() // 0 is now more recent than 1 and 2
	get(t, c, exps[3], (&fetcher{body: bodies[3]}).fetch).Close()
	// 1 was the least recently used.
	if s := c.Stats(); s.Evictions != 1 || s.Entries != 3 || s.Bytes != 3*size {
		t.Errorf("stats = %+v", s)
	}
	path := func(i int) string {
		sha := fmt.Sprintf("%x", exps[i].SHA256)
		return filepath.Join(dir, "sha256", sha[:2], sha)
	}
	if _, err := os.Stat(path(1)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("evicted file still there: %v", err)
	}
	for _, i := range []int{0, 2, 3} {
		if _, err := os.Stat(path(i)); err != nil {
			t.Error(err)
		}
	}
	get(t, c, exps[2], mustFail(t)).Close()
	get(t, c, exps[4], (&fetcher{body: bodies[4]}).fetch).Close() // evicts 0
	if _, err := os.Stat(path(0)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("evicted file still there: %v", err)
	}
	f := &fetcher{body: bodies[1]}
	if en := get(t, c, exps[1], f.fetch); en.Hit || f.calls.Load() != 1 {
		t.Error("evicted entry served as a hit")
	}
}

func TestEvictionSparesNewAndServed(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir(), MaxBytes: 1000})
	a, ea := pkg(20, 5000)
	b, eb := pkg(21, 5000)
	enA := get(t, c, ea, (&fetcher{body: a}).fetch)
	if s := c.Stats(); s.Entries != 1 || s.Evictions != 0 {
		t.Fatalf("the entry just added was evicted: %+v", s)
	}
	fa, err := enA.Open() // being served
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	head := make([]byte, 100)
	if _, err := io.ReadFull(fa, head); err != nil {
		t.Fatal(err)
	}
	enB := get(t, c, eb, (&fetcher{body: b}).fetch) // evicts a
	if s := c.Stats(); s.Entries != 1 || s.Evictions != 1 {
		t.Fatalf("stats = %+v", s)
	}
	if _, err := os.Stat(enA.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a not evicted")
	}
	rest, err := io.ReadAll(fa)
	if err != nil || !bytes.Equal(append(head, rest...), a) {
		t.Fatalf("response cut short by eviction: %v", err)
	}
	// Get holds the handle until Open: eviction between the two is harmless.
	enA = get(t, c, ea, (&fetcher{body: a}).fetch) // evicts b, whose Entry was not opened yet
	if _, err := os.Stat(enB.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("b not evicted")
	}
	if !bytes.Equal(read(t, enB), b) {
		t.Fatal("b not served after eviction")
	}
	enA.Close()
}

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	c := open(t, Options{Dir: dir})
	a, ea := pkg(30, 7000)
	b, eb := pkg(31, 9000)
	get(t, c, ea, (&fetcher{body: a}).fetch).Close()
	get(t, c, eb, (&fetcher{body: b}).fetch).Close()
	c.Close()

	c = open(t, Options{Dir: dir})
	if s := c.Stats(); s.Entries != 2 || s.Bytes != 16000 {
		t.Fatalf("after restart: %+v", s)
	}
	for _, p := range []struct {
		body []byte
		e    repodata.Expect
	}{{a, ea}, {b, eb}, {a, ea}} {
		en := get(t, c, p.e, mustFail(t))
		if !en.Hit || !bytes.Equal(read(t, en), p.body) {
			t.Error("not served from the cache after restart")
		}
	}
	if s := c.Stats(); s.Hits != 3 || s.Downloads != 0 || s.Discarded != 0 {
		t.Errorf("stats = %+v", s)
	}

	// A bound smaller than what is there evicts at Open, oldest first.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "sha256", fmt.Sprintf("%x", eb.SHA256[:1]), fmt.Sprintf("%x", eb.SHA256)), old, old); err != nil {
		t.Fatal(err)
	}
	c = open(t, Options{Dir: dir, MaxBytes: 8000})
	if s := c.Stats(); s.Entries != 1 || s.Bytes != 7000 || s.Evictions != 1 {
		t.Fatalf("after restart with a bound: %+v", s)
	}
}

func TestPlantedFileNotServed(t *testing.T) {
	body, e := pkg(40, 50_000)
	sha := fmt.Sprintf("%x", e.SHA256)
	evil := bytes.Repeat([]byte("e"), len(body))
	for _, tc := range []struct {
		name    string
		plant   func(path string) error
		restart bool
	}{
		{"wrong content, right size, before Open", func(p string) error { return os.WriteFile(p, evil, 0o600) }, true},
		{"wrong size, before Open", func(p string) error { return os.WriteFile(p, evil[:100], 0o600) }, true},
		{"symlink, before Open", func(p string) error {
			good := filepath.Join(filepath.Dir(p), "..", "..", "good")
			if err := os.WriteFile(good, body, 0o600); err != nil {
				return err
			}
			return os.Symlink(good, p)
		}, true},
		{"wrong content while running", func(p string) error { return os.WriteFile(p, evil, 0o600) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "sha256", sha[:2], sha)
			var c *Cache
			if !tc.restart {
				c = open(t, Options{Dir: dir})
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := tc.plant(path); err != nil {
				t.Fatal(err)
			}
			if tc.restart {
				c = open(t, Options{Dir: dir})
			}
			f := &fetcher{body: body}
			en := get(t, c, e, f.fetch)
			if en.Hit || f.calls.Load() != 1 {
				t.Errorf("planted file served: hit %v, %d fetches", en.Hit, f.calls.Load())
			}
			if !bytes.Equal(read(t, en), body) {
				t.Fatal("planted bytes served")
			}
			if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("not replaced by a regular file: %v", err)
			}
			if en := get(t, c, e, mustFail(t)); !en.Hit || !bytes.Equal(read(t, en), body) {
				t.Error("good download not cached")
			}
		})
	}
}

func TestLeftoversRemovedAtOpen(t *testing.T) {
	dir := t.TempDir()
	shard := filepath.Join(dir, "sha256", "ab")
	if err := os.MkdirAll(shard, 0o700); err != nil {
		t.Fatal(err)
	}
	// A process that has exited.
	prog, args := os.Args[0], []string{"-test.run=^$"}
	if p, err := exec.LookPath("true"); err == nil {
		prog, args = p, nil
	}
	cmd := exec.Command(prog, args...)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.ProcessState.Pid()
	name := "." + strings.Repeat("ab", 32) + ".condatrust-tmp-"
	ours, stale := strconv.Itoa(os.Getpid()), time.Now().Add(-25*time.Hour)
	planted := []struct {
		name    string
		old     bool
		removed bool
	}{
		{name + strconv.Itoa(dead) + "-k2j3", false, true}, // its process is gone
		{name + ours + "-k2j4", false, false},              // a download of ours in progress
		{name + "1-k2j5", false, false},                    // init is alive
		{name + ours + "-k2j6", true, true},                // older than a day
		{"README", true, false},                            // not ours to judge
		{"ABCDEF", false, false},
	}
	for _, p := range planted {
		path := filepath.Join(shard, p.name)
		if err := os.WriteFile(path, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if p.old {
			if err := os.Chtimes(path, stale, stale); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := open(t, Options{Dir: dir})
	for _, p := range planted {
		_, err := os.Stat(filepath.Join(shard, p.name))
		if gone := errors.Is(err, fs.ErrNotExist); gone != p.removed {
			t.Errorf("%s: removed = %v, want %v", p.name, gone, p.removed)
		}
	}
	if s := c.Stats(); s.Entries != 0 {
		t.Errorf("stray files indexed: %+v", s)
	}
}

// blocking is a body that sends nothing until its context ends.
func blocking(started chan<- context.Context) Fetcher {
	return func(ctx context.Context) (io.ReadCloser, error) {
		if started != nil {
			started <- ctx
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
}

func TestCancelLastWaiterCancelsDownload(t *testing.T) {
	dir := t.TempDir()
	c := open(t, Options{Dir: dir})
	_, e := pkg(50, 1000)
	started := make(chan context.Context, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := c.Get(ctx, e, blocking(started))
		done <- err
	}()
	dctx := <-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	select {
	case <-dctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("download not cancelled when its only caller left")
	}
	c.Close() // waits for the download to end
	if fs := files(t, dir); len(fs) != 0 {
		t.Errorf("left: %v", fs)
	}
	if _, err := c.Get(context.Background(), e, mustFail(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
}

func TestCancelOneWaiterKeepsDownload(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir()})
	body, e := pkg(51, 1000)
	sha := fmt.Sprintf("%x", e.SHA256)
	gate := make(chan struct{})
	var calls atomic.Int64
	var dctxErr error
	fetch := func(ctx context.Context) (io.ReadCloser, error) {
		calls.Add(1)
		<-gate
		dctxErr = ctx.Err()
		return io.NopCloser(bytes.NewReader(body)), nil
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	err1 := make(chan error)
	go func() {
		_, err := c.Get(ctx1, e, fetch)
		err1 <- err
	}()
	res2 := make(chan *Entry)
	go func() {
		en, err := c.Get(context.Background(), e, fetch)
		if err != nil {
			t.Error(err)
		}
		res2 <- en
	}()
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.calls[sha] != nil && c.calls[sha].waiters == 2
	})
	cancel1()
	if err := <-err1; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	close(gate)
	en := <-res2
	if en == nil || !bytes.Equal(read(t, en), body) {
		t.Fatal("the remaining waiter did not get the package")
	}
	if dctxErr != nil {
		t.Errorf("download cancelled while a caller waited: %v", dctxErr)
	}
	if calls.Load() != 1 {
		t.Errorf("%d fetches", calls.Load())
	}
}

func TestCancelledCallIsNotJoined(t *testing.T) {
	// A Get arriving after every caller of a download left starts a new
	// download instead of sharing the cancelled one's error.
	c := open(t, Options{Dir: t.TempDir()})
	body, e := pkg(52, 1000)
	release := make(chan struct{})
	ignoring := func(ctx context.Context) (io.ReadCloser, error) {
		<-release // ignores its context for a while
		return nil, ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Get(ctx2, e, ignoring)
		close(done)
	}()
	sha := fmt.Sprintf("%x", e.SHA256)
	waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.calls[sha] != nil })
	cancel2()
	<-done
	if _, err := c.Get(ctx, e, mustFail(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	en := get(t, c, e, (&fetcher{body: body}).fetch)
	close(release)
	if !bytes.Equal(read(t, en), body) {
		t.Fatal("bytes differ")
	}
}

func TestConcurrencyLimit(t *testing.T) {
	c := open(t, Options{Dir: t.TempDir(), MaxConcurrentDownloads: 2})
	var cur, peak atomic.Int64
	gate := make(chan struct{})
	const n = 6
	var wg sync.WaitGroup
	for i := range n {
		body, e := pkg(uint64(60+i), 1000)
		wg.Go(func() {
			en, err := c.Get(context.Background(), e, func(ctx context.Context) (io.ReadCloser, error) {
				v := cur.Add(1)
				for p := peak.Load(); v > p && !peak.CompareAndSwap(p, v); p = peak.Load() {
				}
				<-gate
				cur.Add(-1)
				return io.NopCloser(bytes.NewReader(body)), nil
			})
			if err != nil {
				t.Error(err)
				return
			}
			en.Close()
		})
	}
	waitFor(t, func() bool { return cur.Load() == 2 })

	// A Get waiting for a slot gives up when its context does.
	_, e := pkg(70, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Get(ctx, e, mustFail(t)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting for a slot: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	close(gate)
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrent downloads %d, want 2", p)
	}
	if s := c.Stats(); s.Downloads != n || s.Entries != n {
		t.Errorf("stats = %+v", s)
	}
}

// TestStress runs many Gets over a few packages in a cache that holds
// only some of them, checking every served byte (run it with -race).
func TestStress(t *testing.T) {
	const size, pkgs = 20_000, 8
	c := open(t, Options{Dir: t.TempDir(), MaxBytes: 3 * size, MaxConcurrentDownloads: 3})
	var bodies [pkgs][]byte
	var exps [pkgs]repodata.Expect
	for i := range bodies {
		bodies[i], exps[i] = pkg(uint64(80+i), size)
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 100 {
				i := r.IntN(pkgs)
				fetch := (&fetcher{body: bodies[i]}).fetch
				if r.IntN(10) == 0 {
					fetch = func(context.Context) (io.ReadCloser, error) { return io.NopCloser(endless{}), nil }
				}
				ctx, cancel := context.WithCancel(context.Background())
				if r.IntN(10) == 0 {
					cancel()
				}
				en, err := c.Get(ctx, exps[i], fetch)
				cancel()
				if err != nil {
					if !errors.Is(err, trust.ErrVerification) && !errors.Is(err, context.Canceled) {
						t.Error(err)
					}
					continue
				}
				f, err := en.Open()
				if err != nil {
					t.Error(err)
					continue
				}
				got, err := io.ReadAll(f)
				f.Close()
				if err != nil || !bytes.Equal(got, bodies[i]) {
					t.Errorf("package %d: bytes differ (%v)", i, err)
				}
			}
		})
	}
	wg.Wait()
	s := c.Stats()
	if s.Bytes > 3*size || s.Entries > 3 {
		t.Errorf("over the bound: %+v", s)
	}
	t.Logf("%+v", s)
}

// gatedBody sends head, then waits for its gate before sending the rest.
type gatedBody struct {
	head, rest []byte
	gate       chan struct{}
}

func (g *gatedBody) Read(p []byte) (int, error) {
	if len(g.head) > 0 {
		n := copy(p, g.head)
		g.head = g.head[n:]
		return n, nil
	}
	<-g.gate
	if len(g.rest) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.rest)
	g.rest = g.rest[n:]
	return n, nil
}

func TestTempFileNamedForCleanup(t *testing.T) {
	dir := t.TempDir()
	c := open(t, Options{Dir: dir})
	body, e := pkg(90, 200_000)
	g := &gatedBody{head: body[:1000], rest: body[1000:], gate: make(chan struct{})}
	done := make(chan error)
	go func() {
		en, err := c.Get(context.Background(), e, func(context.Context) (io.ReadCloser, error) { return io.NopCloser(g), nil })
		if err == nil {
			en.Close()
		}
		done <- err
	}()
	var tmp []string
	waitFor(t, func() bool { tmp = files(t, dir); return len(tmp) == 1 })
	name := filepath.Base(tmp[0])
	sha := fmt.Sprintf("%x", e.SHA256)
	if !strings.HasPrefix(name, "."+sha+tempMarker+strconv.Itoa(os.Getpid())+"-") {
		t.Errorf("temporary file %s", tmp[0])
	}
	if isLeftover(name, time.Now()) {
		t.Error("a download in progress is taken for a leftover")
	}
	if !isLeftover(name, time.Now().Add(-25*time.Hour)) {
		t.Error("not recognised as a temporary file")
	}
	close(g.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); len(got) != 1 || filepath.Base(got[0]) != sha {
		t.Errorf("after the download: %v", got)
	}
}

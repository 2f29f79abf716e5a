package pkgcache

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/trust"
)

// DefaultMaxConcurrentDownloads is the bound on upstream downloads when
// [Options].MaxConcurrentDownloads is 0.
const DefaultMaxConcurrentDownloads = 8

// ErrClosed is returned by [Cache.Get] after [Cache.Close].
var ErrClosed = errors.New("pkgcache: cache is closed")

// Options configures a [Cache].
type Options struct {
	// Dir is the cache folder, created with mode 0700 if missing. It must
	// be writable by the proxy's user only (see the package doc).
	Dir string
	// MaxBytes bounds the total size of the cached packages; when it is
	// exceeded the least recently used entries are evicted. 0 means
	// unbounded. Downloads in progress are not counted.
	MaxBytes int64
	// MaxConcurrentDownloads bounds the upstream downloads in progress at
	// once; 0 means [DefaultMaxConcurrentDownloads].
	MaxConcurrentDownloads int
}

// Fetcher opens the upstream bytes of one package. The cache reads the
// body to its end (or to the first byte past the expected size) and
// closes it. ctx is the download's own context (see [Cache.Get]), not a
// client request's.
type Fetcher func(ctx context.Context) (io.ReadCloser, error)

// Stats are a [Cache]'s counters since [Open].
type Stats struct {
	Hits      int64 // Get calls served from the cache, without a download
	Misses    int64 // Get calls that waited for a download (successful or not)
	Downloads int64 // upstream fetches started
	Refused   int64 // downloads whose bytes failed verification (nothing cached)
	Discarded int64 // cached files removed because they did not match their name or size
	Evictions int64 // entries removed to stay within MaxBytes
	Bytes     int64 // current total size of the cached packages
	Entries   int   // current number of cached packages
}

// Cache is a content-addressed cache of verified package files. It is
// safe for concurrent use.
type Cache struct {
	dir string
	max int64
	sem chan struct{}

	mu     sync.Mutex
	index  map[string]*entry // by lowercase hex sha256
	lru    list.List         // of *entry; front is the most recently used
	calls  map[string]*call  // downloads (or first-use checks) in progress
	bytes  int64
	stats  Stats
	closed bool
	runs   sync.WaitGroup
}

// entry is one cached file.
type entry struct {
	sha  string
	size int64
	// verified is set when this process hashed the file: it wrote it
	// after a successful check, or re-hashed it at first use after Open.
	verified bool
	// pins counts goroutines about to open the file: eviction skips a
	// pinned entry. Once a handle is open, removing the name is harmless
	// on Unix.
	pins int
	elem *list.Element
}

// call is one shared download (or first-use check) of a sha256.
type call struct {
	done    chan struct{}
	cancel  context.CancelFunc
	waiters int  // Get calls waiting for it; when the last leaves early, the call is cancelled
	over    bool // the call has finished; set with done closed, under Cache.mu
	// Results, read after done is closed.
	en  *entry // the cached entry, pinned for the waiters until the last one leaves
	hit bool   // the file was already cached (and passed its first-use check)
	err error
}

// Entry is a verified package file in the cache.
type Entry struct {
	Path   string // the cached file
	Size   int64
	SHA256 string // lowercase hex
	Hit    bool   // served from the cache without a download

	f atomic.Pointer[os.File] // the handle Get opened, until Open takes it
}

// Open returns an open handle on the package for serving (for example
// with http.ServeContent, which handles Range and HEAD); the caller closes
// it. The first call returns the handle [Cache.Get] opened, so the file
// cannot be evicted between Get and Open; later calls open Path again,
// which fails if the entry has been evicted meanwhile.
func (e *Entry) Open() (*os.File, error) {
	if f := e.f.Swap(nil); f != nil {
		return f, nil
	}
	return openChecked(e.Path, e.Size)
}

// Close releases the handle [Cache.Get] opened if [Entry.Open] was not
// called; it is not needed otherwise (an unreleased handle is closed when
// the Entry is garbage collected).
func (e *Entry) Close() error {
	if f := e.f.Swap(nil); f != nil {
		return f.Close()
	}
	return nil
}

// Open opens (creating it if needed) the cache in opts.Dir: it indexes
// the packages already there, removes temporary files left by a process
// that is gone, and evicts down to MaxBytes. Files found at Open are
// checked against their name at their first use (see the package doc).
func Open(opts Options) (*Cache, error) {
	if opts.Dir == "" {
		return nil, errors.New("pkgcache: no cache directory")
	}
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("pkgcache: negative MaxBytes %d", opts.MaxBytes)
	}
	n := opts.MaxConcurrentDownloads
	if n < 0 {
		return nil, fmt.Errorf("pkgcache: negative MaxConcurrentDownloads %d", n)
	}
	if n == 0 {
		n = DefaultMaxConcurrentDownloads
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, shardRoot), 0o700); err != nil {
		return nil, fmt.Errorf("pkgcache: %w", err)
	}
	c := &Cache{
		dir:   opts.Dir,
		max:   opts.MaxBytes,
		sem:   make(chan struct{}, n),
		index: map[string]*entry{},
		calls: map[string]*call{},
	}
	if err := c.scan(); err != nil {
		return nil, fmt.Errorf("pkgcache: %w", err)
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

// Close cancels the downloads in progress, waits for them to end and
// makes later Get calls fail with [ErrClosed]. Files already cached stay;
// handles already returned stay valid.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	for _, cl := range c.calls {
		cl.cancel()
	}
	c.mu.Unlock()
	c.runs.Wait()
	return nil
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Bytes, s.Entries = c.bytes, len(c.index)
	return s
}

// shardRoot is the folder under Dir that holds the packages, named by the
// hash that names them: Dir/sha256/ab/abcdef....
const shardRoot = "sha256"

func (c *Cache) path(sha string) string {
	return filepath.Join(c.dir, shardRoot, sha[:2], sha)
}

// Get returns the package whose bytes e describes: from the cache when
// present, else downloaded once through fetch.
//
// A cached file is used when its name is e's sha256 and its size is
// e.Size (checked on the open handle); a file found at [Open] is first
// re-hashed through e.NewCheck and removed if it does not match. Otherwise
// the package is downloaded: the body streams through e.NewCheck (which
// stops at the first byte past e.Size) into a temporary file in the
// cache, and only when [repodata.ByteCheck.Verify] passes is the file
// synced and renamed into place. A refused download leaves nothing in the
// cache; its error is the *trust.VerificationError (rule artifact-hash),
// matching trust.ErrVerification. Other errors are the fetch's, a read
// error of the body, or the cache's own file errors.
//
// Concurrent Get calls for the same sha256 share one download (and one
// first-use check), whichever fetch started it. The download runs on its
// own context, which keeps ctx's values but not its cancellation: when a
// caller's ctx ends, that caller returns ctx's error at once, and the
// download is cancelled only when every caller waiting for it has left.
// At most MaxConcurrentDownloads downloads run at once; the others wait
// for a slot, and stop waiting under the same rule.
//
// e must have a sha256 and a size (as every signed record has, see
// [repodata.ExpectFrom]).
func (c *Cache) Get(ctx context.Context, e repodata.Expect, fetch Fetcher) (*Entry, error) {
	if len(e.SHA256) != sha256.Size || e.Size < 0 {
		return nil, fmt.Errorf("pkgcache: %s: the record has no sha256 or size to cache it by", e.Filename)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sha := hex.EncodeToString(e.SHA256)
	out := &Entry{Path: c.path(sha), Size: e.Size, SHA256: sha}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	// Fast path: a file this process has verified.
	if en := c.index[sha]; en != nil && en.verified && en.size == e.Size {
		en.pins++
		c.lru.MoveToFront(en.elem)
		c.mu.Unlock()
		f, err := openChecked(out.Path, e.Size)
		c.mu.Lock()
		c.unpinLocked(en)
		if err == nil {
			c.stats.Hits++
			c.mu.Unlock()
			out.Hit = true
			out.f.Store(f)
			return out, nil
		}
		// Gone or changed behind our back: forget it and fetch again.
		c.dropLocked(en)
	}
	cl := c.calls[sha]
	if cl == nil || cl.waiters == 0 {
		// No call, or one whose callers all left (it is being cancelled).
		dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		cl = &call{done: make(chan struct{}), cancel: cancel}
		c.calls[sha] = cl
		c.runs.Add(1)
		go c.run(dctx, cl, sha, e, fetch)
	}
	cl.waiters++
	c.mu.Unlock()

	var err error
	select {
	case <-cl.done:
		err = cl.err
	case <-ctx.Done():
		err = ctx.Err()
	}
	var f *os.File
	if err == nil {
		// The call's pin keeps the file from eviction until we leave.
		f, err = openChecked(out.Path, e.Size)
	}
	c.mu.Lock()
	c.leaveLocked(cl)
	if err == nil && cl.hit {
		c.stats.Hits++
	} else {
		c.stats.Misses++
	}
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out.Hit = cl.hit
	out.f.Store(f)
	return out, nil
}

// leaveLocked records that one waiter of cl is done with it: the last one
// releases the entry's pin, or cancels the call if it has not finished.
func (c *Cache) leaveLocked(cl *call) {
	cl.waiters--
	if cl.waiters > 0 {
		return
	}
	if !cl.over {
		cl.cancel()
	} else if cl.en != nil {
		c.unpinLocked(cl.en)
	}
}

// run performs one call and publishes its result.
func (c *Cache) run(ctx context.Context, cl *call, sha string, e repodata.Expect, fetch Fetcher) {
	defer c.runs.Done()
	defer cl.cancel()
	en := c.firstUse(sha, e)
	hit := en != nil
	var err error
	if !hit {
		err = c.download(ctx, sha, e, fetch)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl.hit, cl.err = hit, err
	if err == nil && !hit {
		en = c.insertLocked(sha, e.Size)
		en.pins++
	}
	if en != nil {
		// en is pinned: the pin passes to the waiters, if any are left.
		c.lru.MoveToFront(en.elem)
		if cl.waiters > 0 {
			cl.en = en
		} else {
			c.unpinLocked(en)
		}
	}
	cl.over = true
	if c.calls[sha] == cl {
		delete(c.calls, sha)
	}
	close(cl.done)
}

// firstUse returns the cached entry for sha if its file matches e,
// pinned, re-hashing a file that this process has not verified yet. A file
// that does not match is removed; then it returns nil.
func (c *Cache) firstUse(sha string, e repodata.Expect) *entry {
	c.mu.Lock()
	en := c.index[sha]
	switch {
	case en == nil:
		c.mu.Unlock()
		return nil
	case en.size != e.Size:
		c.dropLocked(en)
		c.mu.Unlock()
		return nil
	}
	en.pins++
	if en.verified {
		c.mu.Unlock()
		return en
	}
	c.mu.Unlock()

	ok := rehash(c.path(sha), e)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index[sha] != en || !ok {
		c.unpinLocked(en)
		c.dropLocked(en) // no-op if it was replaced meanwhile
		return nil
	}
	en.verified = true
	return en
}

// rehash reports whether the file at path passes e's check.
func rehash(path string, e repodata.Expect) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	check := e.NewCheck()
	if _, err := io.Copy(check, f); err != nil {
		return false
	}
	return check.Verify() == nil
}

// download fetches the package into its place in the cache, verified.
func (c *Cache) download(ctx context.Context, sha string, e repodata.Expect, fetch Fetcher) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.sem }()
	c.mu.Lock()
	c.stats.Downloads++
	c.mu.Unlock()

	target := c.path(sha)
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return fmt.Errorf("pkgcache: %w", err)
	}
	err := writeVerified(ctx, target, e, fetch)
	if errors.Is(err, trust.ErrVerification) {
		c.mu.Lock()
		c.stats.Refused++
		c.mu.Unlock()
	}
	return err
}

// writeVerified streams the package into a temporary file next to target
// and renames it into place once it is verified. It does not fsync: a
// file that a crash left short or empty under its name is caught when the
// cache is opened again, since every file found at Open is re-hashed on
// first use, and syncing cost a cold download ~8 ms (a third of it) on
// loopback. The temporary
// file is named as internal/atomicfile names its own, so that either
// removes it once this process is gone. (atomicfile.Write itself records
// every file it commits for the life of the process, to list them after
// a signal: not what a server writing a file per package should do.)
func writeVerified(ctx context.Context, target string, e repodata.Expect, fetch Fetcher) error {
	dir, base := filepath.Split(target)
	tmp, err := os.CreateTemp(dir, "."+base+tempMarker+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return fmt.Errorf("pkgcache: %w", err)
	}
	err = fill(ctx, tmp, e, fetch)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), target)
	}
	if err != nil {
		os.Remove(tmp.Name())
		if errors.Is(err, trust.ErrVerification) || errors.Is(err, errFetch) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fmt.Errorf("pkgcache: %w", err)
	}
	return nil
}

// errFetch is matched by a fetchError, to tell it from the cache's own
// file errors.
var errFetch = errors.New("fetch failed")

// fetchError is a failure to fetch or read a package from upstream.
type fetchError struct {
	filename string
	err      error
}

func (e *fetchError) Error() string   { return "fetching " + e.filename + ": " + e.err.Error() }
func (e *fetchError) Unwrap() []error { return []error{e.err, errFetch} }

// copyBuf is the size of the reads from upstream.
const copyBuf = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBuf); return &b }}

// fill streams fetch's body through e's check into w and verifies it. A
// refusal is returned as it is; a failure to fetch or read is wrapped.
func fill(ctx context.Context, w io.Writer, e repodata.Expect, fetch Fetcher) error {
	body, err := fetch(ctx)
	if err != nil {
		return &fetchError{e.Filename, err}
	}
	defer body.Close()
	check := e.NewCheck()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := check.Write(buf[:n]); err != nil {
				return err // refusal: past the expected size
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return &fetchError{e.Filename, rerr}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return check.Verify()
}

// openChecked opens a cached file and checks, on the handle, that it is a
// regular file of the expected size.
func openChecked(path string, size int64) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pkgcache: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && (!fi.Mode().IsRegular() || fi.Size() != size) {
		err = fmt.Errorf("pkgcache: %s is not a regular file of %d bytes", path, size)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// insertLocked records a verified file of the given size for sha as the
// most recently used entry, then evicts down to the bound (never that
// entry: it is at the front).
func (c *Cache) insertLocked(sha string, size int64) *entry {
	en := c.index[sha]
	if en == nil {
		en = &entry{sha: sha}
		en.elem = c.lru.PushFront(en)
		c.index[sha] = en
	} else {
		c.bytes -= en.size
		c.lru.MoveToFront(en.elem)
	}
	en.size, en.verified = size, true
	c.bytes += size
	c.evictLocked()
	return en
}

// evictLocked removes least recently used entries, except pinned ones
// and the most recently used one (the entry just added or served), until
// the total is within the bound.
func (c *Cache) evictLocked() {
	if c.max <= 0 {
		return
	}
	for el := c.lru.Back(); el != nil && c.bytes > c.max; {
		prev := el.Prev()
		en := el.Value.(*entry)
		if el != c.lru.Front() && en.pins == 0 {
			// Removing the name under the lock keeps a new download of
			// the same sha256 from being renamed into place first and
			// then removed. A handle already open stays readable.
			err := os.Remove(c.path(en.sha))
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				c.removeLocked(en)
				c.stats.Evictions++
			}
		}
		el = prev
	}
}

func (c *Cache) unpinLocked(en *entry) {
	en.pins--
	if en.pins == 0 && c.max > 0 && c.bytes > c.max {
		c.evictLocked()
	}
}

// dropLocked removes an entry whose file does not match it.
func (c *Cache) dropLocked(en *entry) {
	if c.index[en.sha] != en {
		return
	}
	os.Remove(c.path(en.sha))
	c.removeLocked(en)
	c.stats.Discarded++
}

func (c *Cache) removeLocked(en *entry) {
	c.lru.Remove(en.elem)
	delete(c.index, en.sha)
	c.bytes -= en.size
}

package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Fetcher reads what a URL holds. It is the client's only way to reach a
// channel, so tests run against an in-memory channel ([MemoryFetcher]) or an
// httptest server, and the verification logic never knows about sockets.
//
// Fetch returns the body, or an error matching [ErrNotFound] when there is
// nothing at url. Size limits are not the Fetcher's job: the client wraps
// every body in a reader that fails with [ErrTooLarge] past the limit for
// what it is reading. The caller closes the body.
type Fetcher interface {
	Fetch(ctx context.Context, url string) (io.ReadCloser, error)
}

// NewFetcher returns a Fetcher for file://, http:// and https:// URLs with
// the given HTTP options.
func NewFetcher(opts HTTPOptions) Fetcher {
	h := NewHTTPFetcher(opts)
	return SchemeFetcher{"file": FileFetcher{}, "http": h, "https": h}
}

// SchemeFetcher dispatches on the URL scheme (lower case).
type SchemeFetcher map[string]Fetcher

// Fetch implements [Fetcher].
func (s SchemeFetcher) Fetch(ctx context.Context, rawURL string) (io.ReadCloser, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	f, ok := s[strings.ToLower(u.Scheme)]
	if !ok {
		return nil, fmt.Errorf("%s: unsupported URL scheme %q (use file://, http:// or https://%s)", rawURL, u.Scheme, map[bool]string{true: " or s3://"}[s["s3"] != nil])
	}
	return f.Fetch(ctx, rawURL)
}

// ObjectFetcher adapts object storage (the s3:// URLs of
// storage/s3store's Fetcher, which the client does not import) into a
// Fetcher with conditional reads, like [HTTPFetcher.FetchConditional]:
// errors matching fs.ErrNotExist become [*NotFoundError], as the client
// expects.
type ObjectFetcher struct {
	// Open opens the object at url; with ifNoneMatch set, it answers
	// notModified (and no body) when the object's ETag is still that one.
	// etag is the ETag of the object opened.
	Open func(ctx context.Context, url, ifNoneMatch string) (body io.ReadCloser, etag string, notModified bool, err error)
}

// Fetch implements [Fetcher].
func (f ObjectFetcher) Fetch(ctx context.Context, url string) (io.ReadCloser, error) {
	body, _, _, err := f.FetchConditional(ctx, url, Validators{})
	return body, err
}

// FetchConditional fetches url unless its ETag is still v.ETag: then it
// returns notModified and v. Otherwise current holds the object's ETag.
func (f ObjectFetcher) FetchConditional(ctx context.Context, url string, v Validators) (body io.ReadCloser, current Validators, notModified bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, Validators{}, false, err
	}
	body, etag, notModified, err := f.Open(ctx, url, v.ETag)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, Validators{}, false, &NotFoundError{URL: url}
	case err != nil:
		return nil, Validators{}, false, err
	case notModified:
		return nil, v, true, nil
	}
	return body, Validators{ETag: etag}, false, nil
}

// limitBody returns r reading at most limit bytes; reading past the limit
// fails with a [*TooLargeError].
func limitBody(r io.Reader, limit int64, url string) io.Reader {
	return &limitedReader{r: r, left: limit, limit: limit, url: url}
}

type limitedReader struct {
	r     io.Reader
	left  int64
	limit int64
	url   string
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, &TooLargeError{URL: l.url, Limit: l.limit}
	}
	// Read one byte more than allowed, to tell "exactly at the limit"
	// from "over it".
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), &TooLargeError{URL: l.url, Limit: l.limit}
	}
	return n, err
}

// readAllLimited fetches url and reads its whole body, at most limit bytes.
func readAllLimited(ctx context.Context, f Fetcher, url string, limit int64) ([]byte, error) {
	rc, err := f.Fetch(ctx, url)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(limitBody(rc, limit, url))
	if err != nil {
		return nil, fetchErr(url, err)
	}
	return data, nil
}

// fetchErr names the URL in a read error unless the error already does.
func fetchErr(url string, err error) error {
	if strings.Contains(err.Error(), url) {
		return err
	}
	return fmt.Errorf("reading %s: %w", url, err)
}

// MemoryFetcher serves files from memory, for tests: keys are full URLs.
// A missing key is [ErrNotFound]. It is safe for concurrent use.
type MemoryFetcher struct {
	mu    sync.Mutex
	files map[string][]byte
	// Requests counts the fetches of each URL.
	requests map[string]int
}

// NewMemoryFetcher returns a MemoryFetcher serving files.
func NewMemoryFetcher(files map[string][]byte) *MemoryFetcher {
	m := &MemoryFetcher{files: map[string][]byte{}, requests: map[string]int{}}
	for k, v := range files {
		m.files[k] = v
	}
	return m
}

// Set serves data at url; nil data removes it.
func (m *MemoryFetcher) Set(url string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if data == nil {
		delete(m.files, url)
		return
	}
	m.files[url] = data
}

// Requests returns how many times url was fetched.
func (m *MemoryFetcher) Requests(url string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests[url]
}

// Fetch implements [Fetcher].
func (m *MemoryFetcher) Fetch(ctx context.Context, url string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[url]++
	data, ok := m.files[url]
	if !ok {
		return nil, &NotFoundError{URL: url}
	}
	return io.NopCloser(strings.NewReader(string(data))), nil
}

// HTTPOptions configure the HTTP fetcher. Zero values take the defaults.
type HTTPOptions struct {
	// Timeout bounds connecting, the TLS handshake and waiting for the
	// response headers. Default 30s.
	Timeout time.Duration
	// IdleTimeout bounds the wait for each chunk of a body: a server that
	// sends nothing for this long is given up on ([ErrStalled]). Default
	// 30s.
	IdleTimeout time.Duration
	// TotalTimeout bounds a whole request: connecting, the headers and
	// reading the entire body, including the time the caller spends
	// between reads. It stops a server that keeps a fetch alive by sending
	// a byte now and then, which IdleTimeout alone never catches. A
	// request past it fails with a [*DeadlineError] ([ErrDeadline]).
	// Default [DefaultTotalTimeout] (30 minutes).
	TotalTimeout time.Duration
	// UserAgent is sent with every request. Default "conda-trust".
	UserAgent string
}

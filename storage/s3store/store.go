package s3store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/storage"
)

const (
	defaultSmallObject = 8 << 20
	tailSize           = 64 << 10
	// multipartAbove is where Put switches to a multipart upload.
	multipartAbove = 64 << 20
)

// Store is a channel at s3://Bucket/Prefix. It implements
// [storage.Store] and is safe for concurrent use.
type Store struct {
	core          *minio.Core
	bucket, prefx string
	small         int64
}

// newCore makes the S3 client of cfg.
func newCore(cfg Config) (*minio.Core, error) {
	host, secure := "s3.amazonaws.com", true
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("S3 endpoint %q: give a URL such as https://s3.example.org or http://127.0.0.1:7070 (AWS_ENDPOINT_URL)", cfg.Endpoint)
		}
		host, secure = u.Host, u.Scheme == "https"
	}
	var creds *credentials.Credentials
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.FileAWSCredentials{Profile: cfg.Profile},
		})
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	opts := &minio.Options{Creds: creds, Secure: secure, Region: region, Transport: cfg.Transport, MaxRetries: cfg.MaxRetries}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = 3
	}
	if opts.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		opts.Transport = t
	}
	if cfg.PathStyle != nil {
		opts.BucketLookup = minio.BucketLookupDNS
		if *cfg.PathStyle {
			opts.BucketLookup = minio.BucketLookupPath
		}
	}
	return minio.NewCore(host, opts)
}

// Open returns the Store of the channel at rawURL, s3://BUCKET/PREFIX.
// Nothing is requested yet.
func Open(rawURL string, cfg Config) (*Store, error) {
	bucket, prefix, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	core, err := newCore(cfg)
	if err != nil {
		return nil, err
	}
	return newStore(core, bucket, prefix, cfg), nil
}

func newStore(core *minio.Core, bucket, prefix string, cfg Config) *Store {
	small := cfg.SmallObject
	switch {
	case small == 0:
		small = defaultSmallObject
	case small < 0:
		small = -1
	}
	return &Store{core: core, bucket: bucket, prefx: prefix, small: small}
}

// key is the object key of name.
func (s *Store) key(name string) string {
	if s.prefx == "" {
		return name
	}
	if name == "" {
		return s.prefx
	}
	return s.prefx + "/" + name
}

// Location implements [storage.Store]: the s3:// URL of name.
func (s *Store) Location(name string) string {
	k := s.key(name)
	if k == "" {
		return "s3://" + s.bucket
	}
	return "s3://" + s.bucket + "/" + k
}

// wrap turns S3's "no such key/bucket" into errors matching
// fs.ErrNotExist and names the object in every error.
func (s *Store) wrap(name string, err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchKey":
		return fmt.Errorf("%s: %w", s.Location(name), fs.ErrNotExist)
	case "NoSuchBucket":
		return fmt.Errorf("%s: bucket %q does not exist: %w", s.Location(name), s.bucket, fs.ErrNotExist)
	case "PreconditionFailed":
		return fmt.Errorf("%s: replaced while being read", s.Location(name))
	}
	return fmt.Errorf("%s: %w", s.Location(name), err)
}

// List implements [storage.Store]: one ListObjectsV2 listing (in pages of
// 1000) with delimiter "/".
func (s *Store) List(ctx context.Context, dir string) ([]storage.Object, error) {
	if err := storage.CheckName(dir); err != nil {
		return nil, err
	}
	prefix := s.key(dir)
	if prefix != "" {
		prefix += "/"
	}
	var objs []storage.Object
	for o := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: false}) {
		if o.Err != nil {
			return nil, s.wrap(dir, o.Err)
		}
		name := strings.TrimPrefix(o.Key, prefix)
		if d, ok := strings.CutSuffix(name, "/"); ok {
			if d != "" && !strings.Contains(d, "/") {
				objs = append(objs, storage.Object{Name: d, Dir: true})
			}
			continue
		}
		if name == "" || strings.Contains(name, "/") {
			continue
		}
		objs = append(objs, storage.Object{Name: name, Size: o.Size, ETag: strings.Trim(o.ETag, `"`)})
	}
	slices.SortFunc(objs, func(a, b storage.Object) int { return strings.Compare(a.Name, b.Name) })
	return objs, nil
}

// Open implements [storage.Store]: it sends the GET and waits for its
// headers; small objects are read whole.
func (s *Store) Open(ctx context.Context, name string) (storage.Reader, error) {
	if err := storage.CheckName(name); err != nil || name == "" {
		return nil, fmt.Errorf("storage: cannot open %q", name)
	}
	return s.open(ctx, name, minio.GetObjectOptions{})
}

// open is Open with the GET's options (conditions). Its errors wrap
// minio's, so that a caller can tell 304 Not Modified.
func (s *Store) open(ctx context.Context, name string, opts minio.GetObjectOptions) (storage.Reader, error) {
	body, info, _, err := s.core.GetObject(ctx, s.bucket, s.key(name), opts)
	if err != nil {
		return nil, s.wrap(name, err)
	}
	r := &reader{ctx: ctx, s: s, name: name, size: info.Size, etag: strings.Trim(info.ETag, `"`)}
	if s.small >= 0 && info.Size <= s.small {
		r.pooled = getBuf(info.Size)
		r.buf = (*r.pooled)[:info.Size]
		_, err := io.ReadFull(body, r.buf)
		closeBody(body)
		if err != nil {
			putBuf(r.pooled)
			return nil, s.wrap(name, err)
		}
		r.whole = true
		return r, nil
	}
	r.body = body
	return r, nil
}

// Buffers of whole reads are pooled by power-of-two size class from 64
// KiB: an index run reads thousands of small objects, and allocating
// (and zeroing) each one cost more CPU than the copy itself.
const minBufClass = 16 // 64 KiB

var bufPools [48]sync.Pool

func bufClass(n int64) int {
	c := minBufClass
	for int64(1)<<c < n {
		c++
	}
	return c
}

func getBuf(n int64) *[]byte {
	c := bufClass(n)
	if b, ok := bufPools[c].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 1<<c)
	return &b
}

func putBuf(b *[]byte) {
	c := bufClass(int64(cap(*b)))
	if 1<<c == cap(*b) {
		bufPools[c].Put(b)
	}
}

// closeBody reads the body to its end before closing it, so that its
// connection is reused: a body closed before EOF costs a new connection
// for the next request.
func closeBody(body io.ReadCloser) {
	io.CopyN(io.Discard, body, 4<<10)
	body.Close()
}

// reader reads one version of an object; see the package documentation.
type reader struct {
	ctx        context.Context
	s          *Store
	name       string
	size       int64
	etag       string
	mu         sync.Mutex
	whole      bool
	buf        []byte        // the whole object, when whole
	pooled     *[]byte       // buf's pooled array, returned on Close
	body       io.ReadCloser // the stream from the start, at pos
	pos        int64
	tail       []byte // the object's end, from tailOff
	tailOff    int64
	rpos       int64 // Read's position
	closed     bool
	streamDone bool
}

func (r *reader) Size() int64  { return r.size }
func (r *reader) ETag() string { return r.etag }

func (r *reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	pos := r.rpos
	r.mu.Unlock()
	if pos >= r.size {
		return 0, io.EOF
	}
	n, err := r.ReadAt(p[:min(int64(len(p)), r.size-pos)], pos)
	r.mu.Lock()
	r.rpos += int64(n)
	r.mu.Unlock()
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, fs.ErrClosed
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := p
	if rest := r.size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	var err error
	switch {
	case r.whole:
		copy(want, r.buf[off:])
	case r.body != nil && off == r.pos:
		var n int
		n, err = io.ReadFull(r.body, want)
		r.pos += int64(n)
		if err != nil {
			return n, r.s.wrap(r.name, err)
		}
	case r.tail != nil && off >= r.tailOff:
		copy(want, r.tail[off-r.tailOff:])
	case off+int64(len(want)) > r.size-tailSize:
		start := min(off, max(0, r.size-tailSize))
		if r.tail, err = r.rangeGet(start, r.size); err != nil {
			return 0, err
		}
		r.tailOff = start
		copy(want, r.tail[off-start:])
	default:
		var data []byte
		if data, err = r.rangeGet(off, off+int64(len(want))); err != nil {
			return 0, err
		}
		copy(want, data)
	}
	if len(want) < len(p) {
		return len(want), io.EOF
	}
	return len(want), nil
}

// rangeGet reads bytes [start, end) of the version being read.
func (r *reader) rangeGet(start, end int64) ([]byte, error) {
	var opts minio.GetObjectOptions
	if err := opts.SetRange(start, end-1); err != nil {
		return nil, err
	}
	if r.etag != "" {
		if err := opts.SetMatchETag(r.etag); err != nil {
			return nil, err
		}
	}
	body, _, _, err := r.s.core.GetObject(r.ctx, r.s.bucket, r.s.key(r.name), opts)
	if err != nil {
		return nil, r.s.wrap(r.name, err)
	}
	defer closeBody(body)
	data := make([]byte, end-start)
	if _, err := io.ReadFull(body, data); err != nil {
		return nil, r.s.wrap(r.name, err)
	}
	return data, nil
}

func (r *reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.buf, r.tail = nil, nil
	if r.pooled != nil {
		putBuf(r.pooled)
		r.pooled = nil
	}
	if r.body != nil {
		err := r.body.Close()
		r.body = nil
		return err
	}
	return nil
}

// Put implements [storage.Store].
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	if err := storage.CheckName(name); err != nil || name == "" {
		return fmt.Errorf("storage: cannot put %q", name)
	}
	ct := "application/octet-stream"
	switch path.Ext(name) {
	case ".json":
		ct = "application/json"
	case ".zst":
		ct = "application/zstd"
	}
	opts := minio.PutObjectOptions{ContentType: ct, PartSize: multipartAbove, DisableMultipart: len(data) <= multipartAbove}
	// Within atomicfile's registry: no upload starts after Ctrl-C, and
	// the interrupted run's message lists the objects it replaced.
	return atomicfile.Remote(s.Location(name), func() error {
		var err error
		if opts.DisableMultipart {
			// With the payload's SHA-256 given, the request is signed
			// over it and sent with a plain Content-Length. Without it,
			// minio-go signs in aws-chunked streaming form over http://,
			// which for an empty object goes out as Transfer-Encoding:
			// chunked and desynchronizes a kept-alive connection
			// (versitygw answers the next request 400; S3 wants a length).
			sum := sha256.Sum256(data)
			opts.DisableContentSha256 = true // no streaming signature: the sum is given
			_, err = s.core.PutObject(ctx, s.bucket, s.key(name), bytes.NewReader(data), int64(len(data)), "", hex.EncodeToString(sum[:]), opts)
		} else {
			_, err = s.core.Client.PutObject(ctx, s.bucket, s.key(name), bytes.NewReader(data), int64(len(data)), opts)
		}
		return s.wrap(name, err)
	})
}

// Delete implements [storage.Store].
func (s *Store) Delete(ctx context.Context, name string) error {
	if err := storage.CheckName(name); err != nil || name == "" {
		return fmt.Errorf("storage: cannot delete %q", name)
	}
	if atomicfile.Interrupted() {
		return &atomicfile.Error{Path: s.Location(name), Err: atomicfile.ErrInterrupted}
	}
	err := s.core.Client.RemoveObject(ctx, s.bucket, s.key(name), minio.RemoveObjectOptions{})
	if err != nil && errors.Is(s.wrap(name, err), fs.ErrNotExist) {
		return nil
	}
	return s.wrap(name, err)
}

var _ storage.Store = (*Store)(nil)

// MakeBucket creates the store's bucket (for tests and first setup).
func (s *Store) MakeBucket(ctx context.Context) error {
	return s.wrap("", s.core.Client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{}))
}

// Fetcher reads objects named by s3://BUCKET/KEY URLs, with one client
// for every bucket. Its Fetch has the shape of client.Fetcher; a missing
// object is an error matching fs.ErrNotExist.
type Fetcher struct {
	core *minio.Core
	cfg  Config
}

// NewFetcher returns a Fetcher using cfg.
func NewFetcher(cfg Config) (*Fetcher, error) {
	core, err := newCore(cfg)
	if err != nil {
		return nil, err
	}
	return &Fetcher{core: core, cfg: cfg}, nil
}

// Open opens the object at rawURL, s3://BUCKET/KEY, for reading: a
// [storage.Reader], read whole at once when small (see the package
// documentation).
func (f *Fetcher) Open(ctx context.Context, rawURL string) (storage.Reader, error) {
	bucket, key, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("%s: names a bucket, not an object", rawURL)
	}
	return newStore(f.core, bucket, "", f.cfg).Open(ctx, key)
}

// Fetch is Open as an io.ReadCloser, the shape of client.Fetcher.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) (io.ReadCloser, error) {
	return f.Open(ctx, rawURL)
}

// OpenIfChanged is Open, unless the object's ETag is still etag: then it
// returns notModified and no Reader (a GET with If-None-Match, answered
// 304 without a body). An empty etag makes the read unconditional. The
// Reader's ETag is the validator for the next call.
func (f *Fetcher) OpenIfChanged(ctx context.Context, rawURL, etag string) (r storage.Reader, notModified bool, err error) {
	bucket, key, err := ParseURL(rawURL)
	if err != nil {
		return nil, false, err
	}
	if key == "" {
		return nil, false, fmt.Errorf("%s: names a bucket, not an object", rawURL)
	}
	st := newStore(f.core, bucket, "", f.cfg)
	var opts minio.GetObjectOptions
	if etag != "" {
		if err := opts.SetMatchETagExcept(etag); err != nil {
			return nil, false, err
		}
	}
	r, err = st.open(ctx, key, opts)
	if etag != "" && err != nil && minio.ToErrorResponse(errors.Unwrap(err)).StatusCode == http.StatusNotModified {
		return nil, true, nil
	}
	return r, false, err
}

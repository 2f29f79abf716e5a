package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/client/clienttest"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/trust"
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is one test: a signed channel (noarch/foo-1.0-0.conda) served by an
// httptest upstream that counts requests and answers conditional requests
// for repodata, a trust store pinning its root v1, and a proxy serving it
// as "main".
type env struct {
	t        *testing.T
	ch       *clienttest.Channel
	fn       string
	pkg      []byte // the good bytes of fn
	up       *httptest.Server
	srv      *Server
	h        http.Handler
	clock    *clock
	logs     *syncBuffer
	cfg      Config
	mu       sync.Mutex
	requests map[string]int // upstream requests by path
	notMod   int            // upstream 304 answers
	restore  func()         // set by a fault that needs its own repair
	gate     chan struct{}  // when set, repodata requests wait for it to close
}

func newEnv(t *testing.T, opts ...func(*Config)) *env {
	t.Helper()
	ch := clienttest.New()
	e := &env{t: t, ch: ch, fn: ch.AddPackage("noarch", "foo", "1.0", "0"), requests: map[string]int{}}
	e.pkg = bytes.Clone(ch.File("noarch/" + e.fn))
	e.up = httptest.NewServer(http.HandlerFunc(e.upstream))
	t.Cleanup(e.up.Close)
	trustDir := t.TempDir()
	store := &client.Store{Dir: trustDir}
	if _, _, err := store.Add(e.up.URL, "", ch.File("1.root.json"), trust.Options{At: ch.Now}); err != nil {
		t.Fatal(err)
	}
	e.clock = &clock{t: ch.Now.Add(time.Minute)}
	e.logs = &syncBuffer{}
	e.cfg = Config{
		Channels: []Channel{{Name: "main", URL: e.up.URL}},
		TrustDir: trustDir, CacheDir: t.TempDir(),
		Refresh: time.Minute, StaleFor: time.Hour,
		Timeout: 500 * time.Millisecond, Deadline: 10 * time.Second,
		Logger: slog.New(slog.NewJSONHandler(e.logs, nil)),
		Now:    e.clock.Now,
	}
	for _, o := range opts {
		o(&e.cfg)
	}
	srv, err := New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	// Each fault must show at the next request: wait for the refresh it
	// starts (TestBackgroundRefresh covers serving during one).
	srv.refreshWait = true
	e.srv, e.h = srv, srv.Handler()
	return e
}

// upstream serves the channel, counting requests and answering
// If-None-Match for files it serves itself.
func (e *env) upstream(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	e.mu.Lock()
	e.requests[p]++
	gate := e.gate
	e.mu.Unlock()
	if gate != nil && strings.Contains(p, "repodata.json") {
		<-gate
	}
	if strings.HasSuffix(p, "repodata.json") {
		if data := e.ch.File(p); data != nil {
			sum := sha256.Sum256(data)
			etag := `"` + hex.EncodeToString(sum[:8]) + `"`
			if r.Header.Get("If-None-Match") == etag {
				e.mu.Lock()
				e.notMod++
				e.mu.Unlock()
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", etag)
		}
	}
	e.ch.ServeHTTP(w, r)
}

func (e *env) upstreamRequests(p string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests[p]
}

func (e *env) do(method, path string, hdr ...string) *http.Response {
	e.t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec.Result()
}

func (e *env) get(path string, hdr ...string) (*http.Response, []byte) {
	e.t.Helper()
	resp := e.do(http.MethodGet, path, hdr...)
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// next makes the proxy ask the upstream again.
func (e *env) next() { e.clock.Advance(e.cfg.Refresh + time.Second) }

func counter(t *testing.T, c *prometheus.CounterVec, labels ...string) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.WithLabelValues(labels...).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// served parses a served repodata.json and verifies it with the channel's
// current key_mgr: every record must be trusted.
func (e *env) served(body []byte) *repodata.File {
	e.t.Helper()
	f, err := repodata.Parse(body)
	if err != nil {
		e.t.Fatalf("served repodata: %v", err)
	}
	km, err := trust.ParseMetadata(e.ch.File("key_mgr.json"), trust.RoleKeyMgr)
	if err != nil {
		e.t.Fatal(err)
	}
	root, _ := trust.ParseMetadata(e.ch.File("1.root.json"), trust.RoleRoot)
	chain, err := trust.NewChain(root, trust.Options{At: e.clock.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := chain.EndRoots(); err != nil {
		e.t.Fatal(err)
	}
	if _, err := chain.SetKeyMgr(km, nil); err != nil {
		e.t.Fatal(err)
	}
	v, _ := repodata.NewVerifier(chain)
	rep, err := v.Verify(f)
	if err != nil {
		e.t.Fatal(err)
	}
	if rep.Untrusted+rep.Unsigned != 0 {
		e.t.Errorf("the served repodata has %d untrusted and %d unsigned records", rep.Untrusted, rep.Unsigned)
	}
	if _, base := f.Info(); base != "" {
		e.t.Errorf("the served repodata keeps info.base_url %q", base)
	}
	return f
}

func hasRecord(f *repodata.File, fn string) bool {
	_, ok := f.Record(fn)
	return ok
}

func TestServeRepodataAndPackage(t *testing.T) {
	e := newEnv(t)
	resp, body := e.get("/main/noarch/repodata.json")
	if resp.StatusCode != 200 {
		t.Fatalf("repodata: %d %s", resp.StatusCode, body)
	}
	if f := e.served(body); !hasRecord(f, e.fn) {
		t.Fatalf("the served repodata lacks %s", e.fn)
	}
	if !e.srv.Ready() {
		t.Error("not ready after a verified update")
	}
	resp, got := e.get("/main/noarch/" + e.fn)
	if resp.StatusCode != 200 || !bytes.Equal(got, e.pkg) {
		t.Fatalf("package: %d, %d bytes", resp.StatusCode, len(got))
	}
	if resp.Header.Get("X-Conda-Trust-Cache") != "miss" {
		t.Errorf("first download: cache %q", resp.Header.Get("X-Conda-Trust-Cache"))
	}
	resp, got = e.get("/main/noarch/" + e.fn)
	if resp.StatusCode != 200 || !bytes.Equal(got, e.pkg) || resp.Header.Get("X-Conda-Trust-Cache") != "hit" {
		t.Fatalf("second download: %d, cache %q", resp.StatusCode, resp.Header.Get("X-Conda-Trust-Cache"))
	}
	if n := e.upstreamRequests("noarch/" + e.fn); n != 1 {
		t.Errorf("upstream saw %d package requests, want 1", n)
	}
	if hits := counter(t, e.srv.m.cache, "hit"); hits != 1 {
		t.Errorf("cache hits = %v", hits)
	}
	if n := counter(t, e.srv.m.requests, routePackage, "200"); n != 2 {
		t.Errorf("requests{package,200} = %v", n)
	}
	// HEAD and Range come from the cache.
	head := e.do(http.MethodHead, "/main/noarch/"+e.fn)
	if head.StatusCode != 200 || head.ContentLength != int64(len(e.pkg)) {
		t.Errorf("HEAD: %d, length %d", head.StatusCode, head.ContentLength)
	}
	resp, got = e.get("/main/noarch/"+e.fn, "Range", "bytes=2-11")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, e.pkg[2:12]) {
		t.Errorf("Range: %d %q", resp.StatusCode, got)
	}
	if n := e.upstreamRequests("noarch/" + e.fn); n != 1 {
		t.Errorf("upstream saw %d package requests after HEAD and Range, want 1", n)
	}
}

func TestRepodataETagAndZstd(t *testing.T) {
	e := newEnv(t)
	resp, body := e.get("/main/noarch/repodata.json")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || etag == "" {
		t.Fatalf("repodata: %d, ETag %q", resp.StatusCode, etag)
	}
	if resp, _ := e.get("/main/noarch/repodata.json", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}
	resp, zbody := e.get("/main/noarch/repodata.json.zst")
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == etag {
		t.Fatalf(".zst: %d, ETag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
	dec, _ := zstd.NewReader(nil)
	plain, err := dec.DecodeAll(zbody, nil)
	if err != nil || !bytes.Equal(plain, body) {
		t.Errorf(".zst does not decode to repodata.json (%v)", err)
	}
	// After Refresh, the proxy asks the upstream conditionally.
	e.next()
	if resp, _ := e.get("/main/noarch/repodata.json", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("after refresh: %d, want 304", resp.StatusCode)
	}
	if e.notMod == 0 {
		t.Error("the proxy did not send a conditional request to the upstream")
	}
	// A change upstream changes the ETag; the unchanged record's result
	// comes from the previous report (Verifier.Previous), without even a
	// signature cache lookup; the new one is verified.
	misses := e.srv.sigs.misses.Load()
	e.ch.AddPackage("noarch", "bar", "1.0", "0")
	e.next()
	resp, body = e.get("/main/noarch/repodata.json", "If-None-Match", etag)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == etag || !hasRecord(e.served(body), "bar-1.0-0.conda") {
		t.Errorf("after an upstream change: %d, ETag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
	if hits, m := e.srv.sigs.hits.Load(), e.srv.sigs.misses.Load()-misses; hits != 0 || m != 1 {
		t.Errorf("after one new record: %d cache hits, %d misses; want 0 and 1", hits, m)
	}
	if rep := e.srv.channels["main"].doc(docKey{"noarch", "repodata.json"}).view.rep; rep.Reused != 1 {
		t.Errorf("after one new record: %d records reused, want 1", rep.Reused)
	}
}

func TestUnpinnedChannelRefused(t *testing.T) {
	_, err := New(Config{Channels: []Channel{{Name: "x", URL: "https://example.invalid/x"}}, TrustDir: t.TempDir(), CacheDir: t.TempDir()})
	if !errors.Is(err, client.ErrNotPinned) {
		t.Fatalf("error %v does not match client.ErrNotPinned", err)
	}
	if !strings.Contains(err.Error(), "channel x") || !strings.Contains(err.Error(), "https://example.invalid/x") {
		t.Errorf("error %q does not name the channel and its URL", err)
	}
}

func TestPathsThatNeverReachUpstream(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{
		"/other/noarch/repodata.json",
		"/main/noarch/../key_mgr.json",
		"/main/not-a-subdir/repodata.json",
		"/main/noarch/channeldata.json",
		"/main/channeldata.json",
		"/main/noarch/" + e.fn + ".sig",
		"/main/noarch/repodata_shards.msgpack.zst/x",
		"/main/noarch/shards/",
		"/main/noarch/shards/0123.json",
		"/main/noarch/a/b/c",
		"/main/noarch/foo.exe",
		"/main/noarch/.conda",
		"/main/0.root.json",
	} {
		resp, body := e.get(p)
		if resp.StatusCode != 404 {
			t.Errorf("%s: %d %s, want 404", p, resp.StatusCode, body)
		}
	}
	if resp := e.do(http.MethodPost, "/main/noarch/repodata.json"); resp.StatusCode != 405 {
		t.Errorf("POST: %d", resp.StatusCode)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for p := range e.requests {
		if p != "1.root.json" && p != "2.root.json" && p != "key_mgr.json" {
			t.Errorf("the upstream was asked for %s", p)
		}
	}
}

func TestSigningMetadata(t *testing.T) {
	e := newEnv(t)
	for _, f := range []string{"1.root.json", "key_mgr.json"} {
		resp, body := e.get("/main/" + f)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", f, resp.StatusCode, body)
		}
		if _, err := trust.ParseMetadata(body, map[string]string{"1.root.json": trust.RoleRoot, "key_mgr.json": trust.RoleKeyMgr}[f]); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if resp, _ := e.get("/main/2.root.json"); resp.StatusCode != 404 {
		t.Errorf("2.root.json: %d", resp.StatusCode)
	}
}

func TestHealthzAndMetrics(t *testing.T) {
	e := newEnv(t)
	// Nothing verified yet: the store has no key_mgr until an update.
	if resp, _ := e.get("/healthz"); resp.StatusCode != 503 {
		t.Errorf("healthz before any update: %d", resp.StatusCode)
	}
	e.get("/main/noarch/repodata.json")
	if resp, body := e.get("/healthz"); resp.StatusCode != 200 {
		t.Errorf("healthz: %d %s", resp.StatusCode, body)
	}
	resp, body := e.get("/metrics")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`condatrust_proxy_requests_total{code="200",route="repodata"} 1`)) {
		t.Errorf("metrics: %d\n%s", resp.StatusCode, body)
	}
}

func TestStaleWindow(t *testing.T) {
	e := newEnv(t)
	resp, good := e.get("/main/noarch/repodata.json")
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	e.ch.Handle("noarch/repodata.json", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 500) })
	e.ch.Handle("noarch/repodata.json.zst", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 500) })
	e.next()
	resp, body := e.get("/main/noarch/repodata.json")
	if resp.StatusCode != 200 || !bytes.Equal(body, good) || resp.Header.Get("Warning") == "" {
		t.Fatalf("within StaleFor: %d, Warning %q", resp.StatusCode, resp.Header.Get("Warning"))
	}
	if n := counter(t, e.srv.m.upstreamErrors, "main", "http-5xx"); n != 1 {
		t.Errorf("upstream_errors{http-5xx} = %v", n)
	}
	// Packages of the stale copy are still served.
	if resp, got := e.get("/main/noarch/" + e.fn); resp.StatusCode != 200 || !bytes.Equal(got, e.pkg) {
		t.Errorf("package during the stale window: %d", resp.StatusCode)
	}
	e.clock.Advance(e.cfg.StaleFor)
	resp, body = e.get("/main/noarch/repodata.json")
	if resp.StatusCode != 502 || !bytes.Contains(body, []byte("stale limit")) {
		t.Fatalf("past StaleFor: %d %s", resp.StatusCode, body)
	}
	e.ch.Handle("noarch/repodata.json", nil)
	e.ch.Handle("noarch/repodata.json.zst", nil)
	e.next()
	resp, body = e.get("/main/noarch/repodata.json")
	if resp.StatusCode != 200 || resp.Header.Get("Warning") != "" || !bytes.Equal(body, good) {
		t.Errorf("after repair: %d, Warning %q", resp.StatusCode, resp.Header.Get("Warning"))
	}
}

func TestRefuseMode(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.OnUntrusted = OnUntrustedRefuse })
	evil := e.ch.AddPackage("noarch", "evil", "1.0", "0")
	e.ch.RemoveSignatures("noarch", evil)
	resp, body := e.get("/main/noarch/repodata.json")
	if resp.StatusCode != 502 || resp.Header.Get("X-Conda-Trust-Rule") != "unsigned" {
		t.Fatalf("refuse mode: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.get("/main/noarch/" + e.fn); resp.StatusCode != 502 {
		t.Errorf("a good package of a refused subdir: %d", resp.StatusCode)
	}
	e.ch.Sign("noarch", evil, "pkg_mgr")
	e.next()
	if resp, _ := e.get("/main/noarch/repodata.json"); resp.StatusCode != 200 {
		t.Errorf("after repair: %d", resp.StatusCode)
	}
}

func TestConcurrentClients(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := "/main/noarch/" + e.fn
			if i%2 == 0 {
				p = "/main/noarch/repodata.json"
			}
			resp, err := http.Get(srv.URL + p)
			if err != nil {
				errs <- err
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || (i%2 == 1 && !bytes.Equal(body, e.pkg)) {
				errs <- fmt.Errorf("%s: %d", p, resp.StatusCode)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := e.srv.pkgs.Stats(); st.Downloads != 1 {
		t.Errorf("%d upstream downloads for one package, want 1", st.Downloads)
	}
	if n := e.upstreamRequests("noarch/repodata.json"); n != 1 {
		t.Errorf("%d upstream repodata requests, want 1", n)
	}
}

func TestServeGracefulShutdown(t *testing.T) {
	e := newEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, l) }()
	resp, err := http.Get("http://" + l.Addr().String() + "/main/noarch/repodata.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("through Serve: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

func TestSignatureCachePersisted(t *testing.T) {
	e := newEnv(t)
	e.get("/main/noarch/repodata.json")
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := openSigCache(e.cfg.CacheDir, e.cfg.TrustDir, e.cfg.Logger)
	if err != nil || c.mem.Len() == 0 {
		t.Fatalf("reopened cache: %v, %d keys", err, c.mem.Len())
	}
	// A cache file written without the key is discarded whole.
	forged, _, err := repodata.OpenFileCache(c.file.Path()+".forged", make([]byte, 32), 10)
	if err != nil {
		t.Fatal(err)
	}
	forged.Add([32]byte{1})
	forged.Add([32]byte{2})
	if err := forged.Save(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(c.file.Path()+".forged", c.file.Path()); err != nil {
		t.Fatal(err)
	}
	c, err = openSigCache(e.cfg.CacheDir, e.cfg.TrustDir, e.cfg.Logger)
	if err != nil || c.mem.Len() != 0 {
		t.Errorf("a forged cache file was used: %v, %d keys", err, c.mem.Len())
	}
	if !strings.Contains(e.logs.String(), "signature cache discarded") {
		t.Error("the discarded cache was not logged")
	}
}

func TestBaseURLRemoved(t *testing.T) {
	e := newEnv(t)
	rd := e.ch.Repodata("noarch")
	v, err := canonjson.Parse(rd)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := v.Get("info")
	info, _ = info.With("base_url", canonjson.MustString("./"))
	v, _ = v.With("info", info)
	e.ch.SetFile("noarch/repodata.json", canonjson.Marshal(v))
	resp, body := e.get("/main/noarch/repodata.json")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if !hasRecord(e.served(body), e.fn) {
		t.Error("record lost")
	}
	if resp, got := e.get("/main/noarch/" + e.fn); resp.StatusCode != 200 || !bytes.Equal(got, e.pkg) {
		t.Errorf("package through base_url: %d", resp.StatusCode)
	}
}

func TestFolderUpstream(t *testing.T) {
	ch := clienttest.New()
	fn := ch.AddPackage("noarch", "foo", "1.0", "0")
	dir := t.TempDir()
	if err := ch.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	trustDir := t.TempDir()
	store := &client.Store{Dir: trustDir}
	if _, _, err := store.Add("file://"+dir, "", ch.File("1.root.json"), trust.Options{At: ch.Now}); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Channels: []Channel{{Name: "local", URL: dir}}, TrustDir: trustDir, CacheDir: t.TempDir(),
		Now: func() time.Time { return ch.Now.Add(time.Minute) }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/local/noarch/"+fn, nil))
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), ch.File("noarch/"+fn)) {
		t.Errorf("package from a folder channel: %d %s", rec.Code, rec.Body.Bytes())
	}
}

// TestBackgroundRefresh: once a subdir has a view, a due refresh runs in
// the background and requests (repodata and packages) keep getting the
// current view; they wait only when that view may not be served (past
// StaleFor), and the new view is served once the refresh ends.
func TestBackgroundRefresh(t *testing.T) {
	e := newEnv(t)
	e.srv.refreshWait = false
	path := "/main/noarch/repodata.json"
	if resp, body := e.get(path); resp.StatusCode != 200 || !hasRecord(e.served(body), e.fn) {
		t.Fatalf("first repodata: %d", resp.StatusCode)
	}
	setGate := func() chan struct{} {
		g := make(chan struct{})
		e.mu.Lock()
		e.gate = g
		e.mu.Unlock()
		return g
	}
	release := func(g chan struct{}) {
		e.mu.Lock()
		e.gate = nil
		e.mu.Unlock()
		close(g)
	}
	// getWithin returns the response of GET p if it comes within d.
	getWithin := func(p string, d time.Duration) (*http.Response, []byte, chan struct{}) {
		type answer struct {
			resp *http.Response
			body []byte
		}
		c := make(chan answer, 1)
		doneC := make(chan struct{})
		go func() {
			req := httptest.NewRequest(http.MethodGet, p, nil)
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			resp := rec.Result()
			body, _ := io.ReadAll(resp.Body)
			c <- answer{resp, body}
			close(doneC)
		}()
		select {
		case a := <-c:
			return a.resp, a.body, doneC
		case <-time.After(d):
			return nil, nil, doneC
		}
	}
	bar := e.ch.AddPackage("noarch", "bar", "1.0", "0")
	g := setGate()
	e.next()
	before := e.upstreamRequests("noarch/repodata.json.zst") + e.upstreamRequests("noarch/repodata.json")
	resp, body, _ := getWithin(path, 5*time.Second)
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("repodata during a refresh: %v, want the current view at once", resp)
	}
	if f := e.served(body); !hasRecord(f, e.fn) || hasRecord(f, bar) {
		t.Errorf("during the refresh: want the previous view (%s, not %s)", e.fn, bar)
	}
	if resp, got, _ := getWithin("/main/noarch/"+e.fn, 5*time.Second); resp == nil || resp.StatusCode != 200 || !bytes.Equal(got, e.pkg) {
		t.Fatalf("package during a refresh: %v", resp)
	}
	repodataRequests := func() int {
		return e.upstreamRequests("noarch/repodata.json.zst") + e.upstreamRequests("noarch/repodata.json")
	}
	for deadline := time.Now().Add(5 * time.Second); repodataRequests() == before && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	e.get(path)
	if n := repodataRequests(); n != before+1 {
		t.Errorf("%d upstream repodata requests during the refresh, want 1 (one refresh in flight)", n-before)
	}
	release(g)
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, body := e.get(path)
		if hasRecord(e.served(body), bar) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the refreshed view (with %s) is not served", bar)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Past StaleFor, the view may not be served while the refresh runs:
	// requests wait for its outcome.
	g = setGate()
	e.clock.Advance(e.cfg.StaleFor + time.Second)
	resp, _, doneC := getWithin(path, 200*time.Millisecond)
	if resp != nil {
		t.Fatalf("a view past StaleFor was served during its refresh: %d", resp.StatusCode)
	}
	release(g)
	select {
	case <-doneC:
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting request did not get the refresh's outcome")
	}
	if resp, _ := e.get(path); resp.StatusCode != 200 || resp.Header.Get("Warning") != "" {
		t.Errorf("after the refresh: %d %q", resp.StatusCode, resp.Header.Get("Warning"))
	}
}

// TestRepodataFiles: repodata is spooled into a private folder of the
// process under CACHE_DIR/repodata, removed by Close; a gone process's
// folder is removed by New.
func TestRepodataFiles(t *testing.T) {
	e := newEnv(t)
	root := filepath.Join(e.cfg.CacheDir, "repodata")
	for _, p := range []string{"/main/noarch/repodata.json", "/main/noarch/repodata.json.zst"} {
		if resp, _ := e.get(p); resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
	dir := e.srv.spool.dir
	if st, err := os.Stat(root); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("%s: %v %v, want mode 0700", root, st, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) < 3 {
		t.Fatalf("%s: %d files (%v), want the upstream document, the trusted one and its .zst", dir, len(ents), err)
	}
	for _, ent := range ents {
		if st, _ := ent.Info(); st == nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", ent.Name(), st)
		}
	}
	// A leftover of a process that is gone (pid 2^22+1 is above Linux's
	// limit) is removed by the next New.
	gone := filepath.Join(root, "4194305-x")
	os.Mkdir(gone, 0o700)
	srv2, err := New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the folder of a gone process was kept: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the folder of a running server was removed: %v", err)
	}
	srv2.Close()
	e.srv.Close()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close kept %s: %v", dir, err)
	}
}

// TestRefreshReusesPrevious: a refresh gives the previous view's Report
// to the Verifier, so unchanged records are not verified again, and the
// document served is the same as a full verification's.
func TestRefreshReusesPrevious(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		e.ch.AddPackage("noarch", fmt.Sprintf("pkg%d", i), "1.0", "0")
	}
	path := "/main/noarch/repodata.json"
	if resp, _ := e.get(path); resp.StatusCode != 200 {
		t.Fatalf("repodata: %d", resp.StatusCode)
	}
	bar := e.ch.AddPackage("noarch", "bar", "1.0", "0")
	e.next()
	resp, body := e.get(path)
	if resp.StatusCode != 200 || !hasRecord(e.served(body), bar) {
		t.Fatalf("after the refresh: %d, want %s served", resp.StatusCode, bar)
	}
	d := e.srv.channels["main"].doc(docKey{"noarch", "repodata.json"})
	d.mu.Lock()
	rep := d.view.rep
	d.mu.Unlock()
	if rep.Reused != 4 || rep.PreviousIgnored != "" || rep.Trusted != 5 {
		t.Errorf("refresh: %d reused (%q), %d trusted; want 4 reused, 5 trusted", rep.Reused, rep.PreviousIgnored, rep.Trusted)
	}
}

// TestCloseDuringRefresh: closing the proxy while a background refresh
// waits on the upstream cancels it without calling it an upstream failure
// (no WARN line, no upstream error counted).
func TestCloseDuringRefresh(t *testing.T) {
	e := newEnv(t)
	e.srv.refreshWait = false
	path := "/main/noarch/repodata.json"
	if resp, _ := e.get(path); resp.StatusCode != 200 {
		t.Fatalf("first repodata: %d", resp.StatusCode)
	}
	g := make(chan struct{})
	e.mu.Lock()
	e.gate = g
	e.mu.Unlock()
	defer close(g)
	requests := func() int {
		return e.upstreamRequests("noarch/repodata.json.zst") + e.upstreamRequests("noarch/repodata.json")
	}
	before := requests()
	e.next() // past Refresh: the next request refreshes in the background
	if resp, _ := e.get(path); resp.StatusCode != 200 {
		t.Fatalf("repodata during the refresh: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for requests() == before {
		if time.Now().After(deadline) {
			t.Fatal("the background refresh never reached the upstream")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if logs := e.logs.String(); strings.Contains(logs, "upstream failed") {
		t.Errorf("closing during a refresh logged an upstream failure:\n%s", logs)
	}
}

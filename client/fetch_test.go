package client_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/client/clienttest"
	"github.com/condatrust/condatrust/trust"
)

// env is one test: a signed channel served by httptest, a trust store
// pinning its root v1, a client, and an empty output folder.
type env struct {
	t     *testing.T
	ch    *clienttest.Channel
	fn    string // noarch/foo-1.0-0.conda
	base  string
	store *client.Store
	c     *client.Client
	out   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ch := clienttest.New()
	e := &env{t: t, ch: ch, fn: ch.AddPackage("noarch", "foo", "1.0", "0")}
	e.base = ch.Server(t).URL
	e.store = &client.Store{Dir: t.TempDir()}
	if _, _, err := e.store.Add(e.base, "", ch.File("1.root.json"), trust.Options{At: ch.Now}); err != nil {
		t.Fatalf("pinning root v1: %v", err)
	}
	e.c = &client.Client{
		Fetcher: client.NewFetcher(client.HTTPOptions{Timeout: 5 * time.Second, IdleTimeout: 5 * time.Second}),
		Store:   e.store,
		Policy:  trust.Options{At: ch.Now},
	}
	e.out = filepath.Join(t.TempDir(), "out")
	return e
}

func (e *env) fetch(opts client.FetchOptions) (*client.FetchResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return e.c.FetchPackage(ctx, e.base, "noarch", e.fn, e.out, opts)
}

// assertEmpty fails unless dir is missing or has no entries at all (no
// package, no temporary file) besides the names in keep.
func assertEmpty(t *testing.T, dir string, keep ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !slices.Contains(keep, e.Name()) {
			t.Errorf("left behind in the output folder: %s", e.Name())
		}
	}
}

// assertNotCreated fails if the output folder, which did not exist
// before, exists after a refusal.
func assertNotCreated(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the output folder %s was left behind (%v)", dir, err)
	}
}

// withExisting makes the output folder exist with one unrelated file.
func withExisting(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkRefusal checks the error's class with errors.Is, its rule (for
// refusals) and its message, separately.
func checkRefusal(t *testing.T, err error, class error, rule trust.Rule, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want a refusal (%v, rule %q, %q)", class, rule, msg)
	}
	if !errors.Is(err, class) {
		t.Errorf("error %q does not match %v", err, class)
	}
	if class != trust.ErrVerification && errors.Is(err, trust.ErrVerification) {
		t.Errorf("error %q is an operational error but matches trust.ErrVerification", err)
	}
	if got := client.RuleOf(err); got != rule {
		t.Errorf("rule = %q, want %q (error %q)", got, rule, err)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not say %q", err, msg)
	}
}

func TestFetchGoodInstall(t *testing.T) {
	e := newEnv(t)
	res, err := e.fetch(client.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(e.out, e.fn))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, e.ch.File("noarch/"+e.fn)) {
		t.Error("the written package differs from the served one")
	}
	if res.Status != client.StatusTrusted || res.Via != "content trust" || len(res.Signers) != 1 ||
		res.Signers[0] != e.ch.Key("pkg_mgr").Public() {
		t.Errorf("result = %+v", res)
	}
	ents, _ := os.ReadDir(e.out)
	if len(ents) != 1 {
		t.Errorf("output folder holds %d entries, want only the package", len(ents))
	}
	// The state was stored: key_mgr.json is in the channel's folder.
	ch, _ := e.store.Channel(e.base)
	if km, err := ch.StoredKeyMgr(); err != nil || km == nil || km.Version != 1 {
		t.Errorf("stored key_mgr = %v, %v", km, err)
	}
}

// TestFetchRefusals is the list of attacks and failures the client must
// refuse; each leaves nothing in the output folder.
func TestFetchRefusals(t *testing.T) {
	other := func(e *env) []byte { // another real package's bytes
		c2 := clienttest.New()
		fn := c2.AddPackage("noarch", "foo", "1.0", "0-evil")
		return c2.File("noarch/" + fn)
	}
	tests := []struct {
		name   string
		setup  func(e *env)
		limits client.Limits
		class  error
		rule   trust.Rule
		msg    string
	}{
		{
			name: "payload changed, hashes updated, old signature kept",
			setup: func(e *env) {
				evil := other(e)
				md5s, sha := clienttest.Digests(evil)
				e.ch.SetFile("noarch/"+e.fn, evil)
				e.ch.EditRecord("noarch", e.fn, "sha256", canonjson.MustString(sha))
				e.ch.EditRecord("noarch", e.fn, "md5", canonjson.MustString(md5s))
				e.ch.EditRecord("noarch", e.fn, "size", canonjson.NewInt(int64(len(evil))))
			},
			class: trust.ErrVerification, rule: trust.RuleThreshold,
			msg: "not signed by a threshold of pkg_mgr keys: 0 of 1 required raw signatures",
		},
		{
			name: "payload changed, record untouched",
			setup: func(e *env) {
				data := e.ch.File("noarch/" + e.fn)
				evil := append([]byte(nil), data...)
				evil[len(evil)/2] ^= 1
				e.ch.SetFile("noarch/"+e.fn, evil)
			},
			class: trust.ErrVerification, rule: trust.RuleArtifactHash, msg: "sha256 ",
		},
		{
			name: "record field edited",
			setup: func(e *env) {
				e.ch.EditRecord("noarch", e.fn, "depends", canonjson.NewArray(canonjson.MustString("evil")))
			},
			class: trust.ErrVerification, rule: trust.RuleThreshold, msg: "signature does not verify",
		},
		{
			name:  "re-signed by a key key_mgr does not delegate to",
			setup: func(e *env) { e.ch.Sign("noarch", e.fn, "attacker") },
			class: trust.ErrVerification, rule: trust.RuleThreshold, msg: "key is not authorized for this role",
		},
		{
			name:  "signatures removed",
			setup: func(e *env) { e.ch.RemoveSignatures("noarch", e.fn) },
			class: trust.ErrVerification, rule: trust.RuleUnsigned, msg: "no signatures for foo-1.0-0.conda",
		},
		{
			name: "signed record served under another file name",
			setup: func(e *env) {
				e.ch.EditRecord("noarch", e.fn, "build", canonjson.MustString("1"))
				e.ch.Sign("noarch", e.fn, "pkg_mgr")
			},
			class: trust.ErrVerification, rule: trust.RuleRecordMismatch, msg: "the signed record is for foo-1.0-1",
		},
		{
			name: "key_mgr signed by a key the root does not delegate to",
			setup: func(e *env) {
				e.ch.SetFile("key_mgr.json", e.ch.KeyMgr(clienttest.KeyMgrSpec{PkgMgrKeys: []string{"attacker"}, SignedBy: []string{"attacker"}}))
				e.ch.Sign("noarch", e.fn, "attacker")
			},
			class: trust.ErrVerification, rule: trust.RuleThreshold, msg: "not signed by a threshold of the key_mgr keys of root v1",
		},
		{
			name:  "key_mgr missing",
			setup: func(e *env) { e.ch.SetFile("key_mgr.json", nil) },
			class: trust.ErrVerification, rule: trust.RuleMissing, msg: "key_mgr.json is not published",
		},
		{
			name: "key_mgr expired",
			setup: func(e *env) {
				e.ch.SetFile("key_mgr.json", e.ch.KeyMgr(clienttest.KeyMgrSpec{Expires: e.ch.Now.Add(time.Hour)}))
				e.c.Policy.At = e.ch.Now.Add(2 * time.Hour)
			},
			class: trust.ErrVerification, rule: trust.RuleExpired, msg: "key_mgr v1: expired at",
		},
		{
			name: "next root signed only by the new keys",
			setup: func(e *env) {
				e.ch.SetFile("2.root.json", e.ch.Root(clienttest.RootSpec{Version: 2, RootKeys: []string{"root2"}}))
			},
			class: trust.ErrVerification, rule: trust.RuleThreshold, msg: "not signed by a threshold of the trusted root v1's root keys",
		},
		{
			name: "next root signed only by the old keys",
			setup: func(e *env) {
				e.ch.SetFile("2.root.json", e.ch.Root(clienttest.RootSpec{Version: 2, RootKeys: []string{"root2"}, SignedBy: []string{"root1"}}))
			},
			class: trust.ErrVerification, rule: trust.RuleThreshold, msg: "not signed by a threshold of its own root keys (root v2)",
		},
		{
			name:  "next root skips a version",
			setup: func(e *env) { e.ch.SetFile("2.root.json", e.ch.Root(clienttest.RootSpec{Version: 3})) },
			class: trust.ErrVerification, rule: trust.RuleVersion, msg: "this skips a version",
		},
		{
			name: "next root rolls back",
			setup: func(e *env) {
				e.ch.SetFile("2.root.json", e.ch.Root(clienttest.RootSpec{Version: 1, Expires: e.ch.Now.AddDate(2, 0, 0)}))
			},
			class: trust.ErrVerification, rule: trust.RuleVersion, msg: "would roll back",
		},
		{
			name: "final root expired",
			setup: func(e *env) {
				e.ch.SetFile("2.root.json", e.ch.Root(clienttest.RootSpec{Version: 2, Expires: e.ch.Now.Add(time.Hour)}))
				e.c.Policy.At = e.ch.Now.Add(2 * time.Hour)
			},
			class: trust.ErrVerification, rule: trust.RuleExpired, msg: "root v2: expired at",
		},
		{
			name:  "next root not JSON",
			setup: func(e *env) { e.ch.SetFile("2.root.json", []byte("<html>oops</html>")) },
			class: trust.ErrMalformed, msg: "2.root.json: root: invalid JSON",
		},
		{
			name: "next root larger than the cap",
			setup: func(e *env) {
				e.ch.SetFile("2.root.json", bytes.Repeat([]byte(" "), client.DefaultMaxMetadataSize+1))
			},
			class: client.ErrTooLarge, msg: "larger than the limit of 524288 bytes",
		},
		{
			name:   "repodata larger than the cap",
			limits: client.Limits{MaxRepodataSize: 100},
			class:  client.ErrTooLarge, msg: "repodata.json: response larger than the limit of 100 bytes",
		},
		{
			name: "package larger than its signed size",
			setup: func(e *env) {
				e.ch.SetFile("noarch/"+e.fn, append(e.ch.File("noarch/"+e.fn), "more"...))
			},
			class: trust.ErrVerification, rule: trust.RuleArtifactHash, msg: "the server sent more than the",
		},
		{
			name: "truncated download (connection closed early)",
			setup: func(e *env) {
				data := e.ch.File("noarch/" + e.fn)
				e.ch.Handle("noarch/"+e.fn, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Length", strconv.Itoa(len(data)))
					w.Write(data[:len(data)/2])
				})
			},
			class: io.ErrUnexpectedEOF, msg: "unexpected EOF",
		},
		{
			name: "truncated download (clean end of a shorter body)",
			setup: func(e *env) {
				data := e.ch.File("noarch/" + e.fn)
				e.ch.Handle("noarch/"+e.fn, func(w http.ResponseWriter, r *http.Request) {
					w.Write(data[:len(data)/2]) // chunked, ends cleanly
				})
			},
			class: trust.ErrVerification, rule: trust.RuleArtifactHash, msg: "bytes differs from the record's",
		},
		{
			name: "package not in repodata",
			setup: func(e *env) {
				e.ch.SetFile("noarch/repodata.json", []byte(`{"info": {"subdir": "noarch"}, "packages": {}, "packages.conda": {}}`))
			},
			class: trust.ErrVerification, rule: trust.RuleNotListed, msg: "no record in the repodata's \"packages.conda\"",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.c.Limits = tc.limits
			if tc.setup != nil {
				tc.setup(e)
			}
			_, err := e.fetch(client.FetchOptions{})
			checkRefusal(t, err, tc.class, tc.rule, tc.msg)
			assertNotCreated(t, e.out)

			// The same with an output folder that already exists.
			withExisting(t, e.out)
			_, err = e.fetch(client.FetchOptions{})
			checkRefusal(t, err, tc.class, tc.rule, tc.msg)
			assertEmpty(t, e.out, "keep.txt")
		})
	}
}

func gzipBytes(t *testing.T, data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestFetchServerError: an HTTP error on the next root ends the update
// with that error (not a verification failure), rather than taking the
// current root as the newest.
func TestFetchServerError(t *testing.T) {
	e := newEnv(t)
	e.ch.Handle("2.root.json", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })
	_, err := e.fetch(client.FetchOptions{})
	var he *client.HTTPError
	if !errors.As(err, &he) || he.StatusCode != 500 {
		t.Fatalf("err = %v, want an HTTP 500 error", err)
	}
	if errors.Is(err, trust.ErrVerification) || !strings.Contains(err.Error(), "2.root.json: HTTP 500") {
		t.Errorf("err = %v", err)
	}
	assertEmpty(t, e.out)
}

// TestFetchStalledServer: a server that stops sending is given up on after
// the idle timeout, before or after the response headers, and nothing is
// left behind. The handlers block until the test ends.
func TestFetchStalledServer(t *testing.T) {
	for _, where := range []string{"before headers", "mid-body"} {
		t.Run(where, func(t *testing.T) {
			e := newEnv(t)
			release := make(chan struct{})
			// Cleanups run last-in first-out: release the handler before
			// the server (registered in newEnv) waits for it to return.
			t.Cleanup(func() { close(release) })
			data := e.ch.File("noarch/" + e.fn)
			e.ch.Handle("noarch/"+e.fn, func(w http.ResponseWriter, r *http.Request) {
				if where == "mid-body" {
					w.Header().Set("Content-Length", strconv.Itoa(len(data)))
					w.Write(data[:100])
					w.(http.Flusher).Flush()
				}
				select {
				case <-release:
				case <-r.Context().Done():
				}
			})
			e.c.Fetcher = client.NewFetcher(client.HTTPOptions{Timeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})
			withExisting(t, e.out)
			start := time.Now()
			_, err := e.fetch(client.FetchOptions{})
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v to give up", d)
			}
			checkRefusal(t, err, client.ErrStalled, "", "noarch/"+e.fn)
			assertEmpty(t, e.out, "keep.txt")
		})
	}
}

// TestFetchCancelled: a context cancelled mid-download removes the
// temporary file.
func TestFetchCancelled(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	data := e.ch.File("noarch/" + e.fn)
	e.ch.Handle("noarch/"+e.fn, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:100])
		w.(http.Flusher).Flush()
		cancel()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	_, err := e.c.FetchPackage(ctx, e.base, "noarch", e.fn, e.out, client.FetchOptions{})
	checkRefusal(t, err, context.Canceled, "", "canceled")
	assertNotCreated(t, e.out)
}

// TestFetchUnsignedAllowed: --allow-unsigned is explicit, loud, and still
// checks the bytes against the unsigned record.
func TestFetchUnsignedAllowed(t *testing.T) {
	e := newEnv(t)
	e.ch.RemoveSignatures("noarch", e.fn)
	res, err := e.fetch(client.FetchOptions{AllowUnsigned: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != client.StatusUnsigned || len(res.Warnings) == 0 || !strings.Contains(res.Warnings[0], "has no signature") {
		t.Errorf("result = %+v", res)
	}
	e2 := newEnv(t)
	e2.ch.RemoveSignatures("noarch", e2.fn)
	e2.ch.SetFile("noarch/"+e2.fn, append(e2.ch.File("noarch/"+e2.fn), 'x'))
	_, err = e2.fetch(client.FetchOptions{AllowUnsigned: true})
	checkRefusal(t, err, trust.ErrVerification, trust.RuleArtifactHash, "the server sent more than")
	assertEmpty(t, e2.out)
}

// TestFetchUnpinned: a root published by the channel is never trusted on
// its own.
func TestFetchUnpinned(t *testing.T) {
	e := newEnv(t)
	e.c.Store = &client.Store{Dir: t.TempDir()}
	_, err := e.fetch(client.FetchOptions{})
	checkRefusal(t, err, client.ErrNotPinned, "", "channel not pinned")
	assertEmpty(t, e.out)
}

// TestFetchZstdAndGzip: repodata.json.zst is preferred; gzip-encoded
// responses are decoded.
func TestFetchZstdAndGzip(t *testing.T) {
	e := newEnv(t)
	e.ch.ServeZstd(true)
	// Make the plain repodata useless: only the .zst can succeed.
	e.ch.SetFile("noarch/repodata.json", []byte("not json"))
	if _, err := e.fetch(client.FetchOptions{}); err != nil {
		t.Fatalf("with repodata.json.zst: %v", err)
	}

	e = newEnv(t)
	rd := e.ch.Repodata("noarch")
	var seen string
	e.ch.Handle("noarch/repodata.json", func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Get("Accept-Encoding")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gzipBytes(t, rd))
	})
	if _, err := e.fetch(client.FetchOptions{}); err != nil {
		t.Fatalf("with gzip: %v", err)
	}
	if seen != client.AcceptEncoding {
		t.Errorf("Accept-Encoding = %q, want %q", seen, client.AcceptEncoding)
	}
}

func TestFetchCorruptZstdIsAnError(t *testing.T) {
	e := newEnv(t)
	e.ch.SetFile("noarch/repodata.json.zst", []byte("definitely not zstd"))
	_, err := e.fetch(client.FetchOptions{})
	if err == nil || errors.Is(err, trust.ErrVerification) || !strings.Contains(err.Error(), "repodata.json.zst") {
		t.Errorf("err = %v, want a decoding error naming repodata.json.zst", err)
	}
	assertEmpty(t, e.out)
}

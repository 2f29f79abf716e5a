package proxy

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/trust"
)

// docKey names one served repodata document of a channel.
type docKey struct {
	subdir string
	name   string // "repodata.json" or "current_repodata.json"
}

// doc is one repodata document of a channel: the last verified view and
// what is needed to refresh it.
type doc struct {
	key docKey

	mu        sync.Mutex
	done      chan struct{} // set while a refresh runs; closed when it ends
	view      *view
	confirmed time.Time // when the upstream last confirmed view (200 or 304)
	checked   time.Time // when the upstream was last asked
	failed    error     // the last refresh's error, nil after a success
	closed    bool      // failed is a refusal: no stale serving
	// Upstream state of the view: where it came from, its validators, the
	// SHA-256 of the decoded upstream bytes and the trust it was verified
	// under.
	src    string
	valids validators
	rawSum [32]byte
	gen    string
}

// view is a verified repodata as served: only trusted records. Its
// bytes are in files (see spool.go), released with the view.
type view struct {
	body     string // path of the served document (WriteTrusted output)
	size     int64
	etag     string // of body; the .zst has etag with a suffix
	modTime  time.Time
	file     *repodata.File     // the upstream document, mapped: the records packages are served by
	rep      *repodata.Report   // its verification (with Keep), nil for a legacy view
	verifier *repodata.Verifier // the verifier it was verified with
	gen      string             // the trustView.gen it was verified under
	subdir   string
	// pkgBase is the folder packages are downloaded from (ending in "/"):
	// the subdir's, or info.base_url's when repodata.ResolveBaseURL
	// accepts it; pkgBaseErr is its refusal.
	pkgBase    string
	pkgBaseErr error
	// dropped holds the refusal of each record left out, by file name.
	dropped map[string]error
	counts  [3]int // trusted, untrusted, unsigned

	// legacy marks the unverified repodata of a legacy channel; verdicts
	// are its packages whose .sig verified (see Server.legacyPackage).
	legacy   bool
	lmu      sync.Mutex
	verdicts map[string]*legacyVerdict

	files *viewFiles

	// shards is the view's sharded form (shards.go), built on demand.
	smu    sync.Mutex
	shards *viewShards
}

// newView attaches files to v: they are released (the mapping closed,
// the files removed) once v is unreachable. Whoever uses the view's
// file, records or files keeps v reachable (runtime.KeepAlive) until done.
func newView(v *view, files *viewFiles) *view {
	v.files = files
	runtime.AddCleanup(v, func(f *viewFiles) { f.release() }, files)
	return v
}

func (c *channel) doc(k docKey) *doc {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.docs[k]
	if d == nil {
		d = &doc{key: k}
		c.docs[k] = d
	}
	return d
}

// staleInfo marks a view served past a failed refresh.
type staleInfo struct {
	err error
	age time.Duration
}

// errRefreshing is serveable's answer for a view that may not be served
// while its refresh runs (see current); it is never returned by current.
var errRefreshing = errors.New("the repodata is being refreshed")

// current returns the document's verified view. When it is older than
// Config.Refresh, one goroutine refreshes it in the background
// (startRefresh) while requests keep getting the current view; a request
// waits for the refresh only when there is no view it may serve: none
// yet (the first request), or the last answer was an error, or the view
// is past StaleFor, or the trust it was verified under expired or was
// replaced since. When the refresh fails for an operational reason, the
// last view is returned with stale set while it was confirmed less than
// Config.StaleFor ago and the trust it was verified under has not
// expired. A refusal (trust metadata, or refuse mode) is never covered:
// the error is returned.
func (c *channel) current(ctx context.Context, k docKey) (*view, *staleInfo, error) {
	d := c.doc(k)
	cfg := &c.srv.cfg
	d.mu.Lock()
	if d.checked.IsZero() || cfg.Now().Sub(d.checked) >= cfg.Refresh {
		c.startRefresh(d)
	}
	wait := d.done
	d.mu.Unlock()
	if wait != nil {
		v, stale, err := c.serveable(d, true)
		if err == nil && !c.srv.refreshWait {
			return v, stale, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	return c.serveable(d, false)
}

// startRefresh starts the refresh of d in a goroutine of its own unless
// one runs; d.done is closed when it ends. The caller holds d.mu.
func (c *channel) startRefresh(d *doc) {
	if d.done != nil {
		return
	}
	done := make(chan struct{})
	d.done = done
	s := c.srv
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		c.refresh(s.bgCtx, d, done)
	}()
}

// serveable applies the serving rules to d's state. With refreshing (a
// refresh of d runs), a view is also refused (errRefreshing) when it is
// older than StaleFor, when the trust it was verified under has expired
// or been replaced by another (a newer key_mgr), so that the caller waits
// for the refresh's outcome instead.
func (c *channel) serveable(d *doc, refreshing bool) (*view, *staleInfo, error) {
	cfg := &c.srv.cfg
	// A trust refusal found through any document closes the channel.
	c.mu.Lock()
	refused, tv := c.refused, c.tv
	c.mu.Unlock()
	if refused != nil {
		return nil, nil, refused
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := cfg.Now()
	age := now.Sub(d.confirmed)
	if refreshing && d.view != nil {
		switch {
		case cfg.StaleFor >= 0 && age > cfg.StaleFor:
			return nil, nil, errRefreshing
		case c.legacy != nil:
		case tv == nil || tv.expired(now) || d.view.gen != tv.gen:
			return nil, nil, errRefreshing
		}
	}
	if d.failed == nil {
		if d.view == nil {
			// Only before the first refresh ended: current waited for it.
			return nil, nil, errRefreshing
		}
		return d.view, nil, nil
	}
	if d.closed || d.view == nil || cfg.StaleFor < 0 {
		return nil, nil, d.failed
	}
	if age > cfg.StaleFor {
		return nil, nil, fmt.Errorf("%w (the last verified copy is %v old, past the stale limit of %v)", d.failed, age.Round(time.Second), cfg.StaleFor)
	}
	if c.legacy != nil {
		// No trust to expire: only packages are verified, at each use.
		return d.view, &staleInfo{err: d.failed, age: age}, nil
	}
	// The trust the view was verified under must still hold.
	if tv == nil || tv.expired(now) {
		return nil, nil, fmt.Errorf("%w (the last verified copy cannot be served: its trust metadata expired)", d.failed)
	}
	return d.view, &staleInfo{err: d.failed, age: age}, nil
}

// refresh asks the upstream for the document and verifies what changed.
// It runs in the goroutine startRefresh started, and closes done (d.done)
// when d's state holds its outcome.
func (c *channel) refresh(parent context.Context, d *doc, done chan struct{}) {
	ctx, cancel := context.WithTimeout(parent, c.srv.cfg.Deadline)
	defer cancel()
	v, err := c.fetchAndVerify(ctx, d)
	now := c.srv.cfg.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	defer func() { d.done = nil; close(done) }()
	d.checked = now
	if err != nil {
		d.failed = err
		d.closed = errors.Is(err, trust.ErrVerification)
		// A refresh cancelled because the proxy is closing is not an
		// upstream failure: it is neither counted nor logged.
		stopping := parent.Err() != nil && errors.Is(err, context.Canceled)
		if !d.closed && !stopping && !errors.Is(err, client.ErrNotFound) {
			kind := upstreamErrorKind(err)
			c.srv.m.upstreamErrors.WithLabelValues(c.name, kind).Inc()
			c.srv.cfg.Logger.Warn("upstream failed", "channel", c.name, "file", d.key.subdir+"/"+d.key.name, "kind", kind, "error", err.Error())
		}
		if errors.Is(err, client.ErrNotFound) {
			// The upstream has no such document (any more).
			d.view, d.closed = nil, true
		}
		return
	}
	d.failed, d.closed, d.confirmed = nil, false, now
	if v != nil {
		d.view = v
	}
}

// fetchAndVerify returns a new view, or nil when the current one still
// holds (the upstream answered 304 or the same bytes, under the same
// trust). It updates d's upstream state under d.mu.
func (c *channel) fetchAndVerify(ctx context.Context, d *doc) (*view, error) {
	tv, err := legacyTrust, error(nil)
	if c.legacy == nil {
		if tv, err = c.trust(ctx); err != nil {
			return nil, err
		}
	}
	d.mu.Lock()
	src, valids, rawSum, gen, have := d.src, d.valids, d.rawSum, d.gen, d.view != nil
	var prev *repodata.Report
	if have {
		prev = d.view.rep
	}
	d.mu.Unlock()
	if !have || gen != tv.gen {
		valids = validators{}
	}
	var urls []string
	if d.key.name == "repodata.json" {
		urls = []string{c.subdirURL(d.key.subdir, "repodata.json.zst"), c.subdirURL(d.key.subdir, "repodata.json")}
	} else {
		urls = []string{c.subdirURL(d.key.subdir, d.key.name)}
	}
	var resp response
	var u string
	for i, cand := range urls {
		u = cand
		vv := validators{}
		if u == src {
			vv = valids
		}
		resp, err = c.srv.up.get(ctx, u, vv)
		if err == nil || !errors.Is(err, client.ErrNotFound) || i == len(urls)-1 {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if resp.notModified {
		if !have || gen != tv.gen {
			return nil, fmt.Errorf("%s: the upstream answered 304 Not Modified to an unconditional request", u)
		}
		return nil, nil
	}
	up, err := c.spool(resp.body, u)
	if err != nil {
		return nil, err
	}
	sum := up.sum
	d.mu.Lock()
	d.src, d.valids = u, resp.v
	same := have && gen == tv.gen && sum == rawSum
	d.mu.Unlock()
	if same {
		os.Remove(up.path)
		return nil, nil
	}
	var v *view
	if c.legacy != nil {
		v, err = c.legacyView(up, u, d.key.subdir)
	} else {
		v, err = c.verify(up, u, d.key.subdir, tv, prev)
	}
	if err != nil {
		d.mu.Lock()
		d.valids = validators{} // verify again next time, whatever the upstream says
		d.mu.Unlock()
		return nil, err
	}
	d.mu.Lock()
	d.rawSum, d.gen = sum, tv.gen
	d.mu.Unlock()
	return v, nil
}

func (c *channel) subdirURL(subdir, file string) string {
	return c.url + "/" + subdir + "/" + file
}

// capReader fails with a *client.TooLargeError past limit bytes.
type capReader struct {
	r           io.Reader
	left, limit int64
	url         string
}

func (l *capReader) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), &client.TooLargeError{URL: l.url, Limit: l.limit}
	}
	return n, err
}

// openSpooled maps the spooled upstream document up (fetched from u for
// subdir) and checks that its info.subdir, when it has one, is that
// subdir. It takes up: on an error, its file is removed; otherwise the
// caller releases the returned files.
func openSpooled(up spooled, u, subdir string) (*repodata.File, *viewFiles, error) {
	files := &viewFiles{paths: []string{up.path}}
	f, err := repodata.Open(up.path)
	if err != nil {
		files.release()
		return nil, nil, fmt.Errorf("%s: %w", u, err)
	}
	files.file = f
	if sd, _ := f.Info(); sd != "" && sd != subdir {
		files.release()
		return nil, nil, fmt.Errorf("%s: info.subdir is %q, not %q", u, sd, subdir)
	}
	return f, files, nil
}

// verify verifies every record of an upstream repodata (the file up,
// mapped) and builds the view that holds only the trusted ones. prev is
// the Report of the view it replaces, or nil: given to the Verifier as
// [repodata.Verifier.Previous], it lets records whose bytes did not change
// keep their result without being verified again (the library decides
// when it applies: same delegation and subdir, byte-identical record and
// signatures entry). It takes up: on an error, its file is removed.
func (c *channel) verify(up spooled, u, subdir string, tv *trustView, prev *repodata.Report) (_ *view, err error) {
	s := c.srv
	f, files, err := openSpooled(up, u, subdir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			files.release()
		}
	}()
	v := *tv.verifier
	v.Subdir = subdir
	v.Previous = prev
	start := time.Now()
	rep, err := v.Verify(f)
	v.Previous = nil // the view keeps v for VerifyPackageRecord, not prev
	s.m.verifySeconds.WithLabelValues(c.name).Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	file := subdir + "/" + pathBase(u)
	if prev != nil {
		s.cfg.Logger.Debug("repodata verified", "channel", c.name, "file", file, "records", len(rep.Results),
			"reused", rep.Reused, "previous_ignored", rep.PreviousIgnored, "seconds", time.Since(start).Seconds())
	}
	dropped := map[string]error{}
	for _, res := range rep.Results {
		if res.Status == repodata.Trusted {
			continue
		}
		rerr := res.Err()
		dropped[res.Filename] = rerr
		// The keys whose signatures did not count, as written in the
		// entry (a record signed by nobody authorized names its signer).
		key := ""
		var ve *trust.VerificationError
		if errors.As(rerr, &ve) {
			key = ve.Key
		}
		for _, ig := range res.Ignored {
			if key != "" {
				key += ","
			}
			key += ig.KeyID
		}
		s.m.refusals.WithLabelValues(c.name, string(res.Rule)).Inc()
		s.cfg.Logger.Warn("refused", "channel", c.name, "file", file, "record", res.Filename,
			"rule", string(res.Rule), "key", key, "reason", res.Reason)
	}
	for i, st := range []string{"trusted", "untrusted", "unsigned"} {
		s.m.records.WithLabelValues(c.name, subdir, st).Set(float64([]int{rep.Trusted, rep.Untrusted, rep.Unsigned}[i]))
	}
	if s.cfg.OnUntrusted == OnUntrustedRefuse {
		if err := rep.Err(false); err != nil {
			return nil, fmt.Errorf("%s: refused (on-untrusted refuse): %w", file, err)
		}
	}
	// The trusted document goes to a file. It is not parsed again:
	// WriteTrusted writes only the bytes Verify kept (so they are not
	// read from the mapping again), in the sorted compact form it
	// documents, and packages are checked against the records of f, the
	// same bytes (a record not written is in dropped).
	w, err := s.spool.create("trusted.json")
	if err != nil {
		return nil, err
	}
	_, err = repodata.WriteTrusted(w, f, rep)
	body, err := w.finish(err)
	if err != nil {
		return nil, fmt.Errorf("%s: writing the trusted records: %w", u, err)
	}
	files.paths = append(files.paths, body.path)
	_, base := f.Info()
	if base != "" {
		// info.base_url is removed from the written document, streamed
		// from its mapping into another file.
		if body, err = s.spool.writeWithoutBaseURL(body.path); err != nil {
			return nil, fmt.Errorf("%s: removing info.base_url: %w", u, err)
		}
		os.Remove(files.paths[1])
		files.paths[1] = body.path
	}
	pkgBase, pkgBaseErr := c.subdirURL(subdir, ""), error(nil)
	if base != "" {
		pkgBase, pkgBaseErr = repodata.ResolveBaseURL(c.url, u, base)
	}
	return newView(&view{
		body: body.path, size: body.size, etag: `"` + hex.EncodeToString(body.sum[:16]) + `"`, modTime: s.cfg.Now().UTC().Truncate(time.Second),
		file: f, rep: rep, verifier: &v, gen: tv.gen, subdir: subdir, pkgBase: pkgBase, pkgBaseErr: pkgBaseErr, dropped: dropped,
		counts: [3]int{rep.Trusted, rep.Untrusted, rep.Unsigned},
	}, files), nil
}

func pathBase(u string) string {
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] == '/' {
			return u[i+1:]
		}
	}
	return u
}

// serveRepodata answers NAME/SUBDIR/{repodata.json,repodata.json.zst,
// current_repodata.json}.
func (s *Server) serveRepodata(w *respWriter, r *http.Request, c *channel, subdir, file string) {
	name, zst := file, false
	if file == "repodata.json.zst" {
		name, zst = "repodata.json", true
	}
	v, stale, err := c.current(r.Context(), docKey{subdir, name})
	if err != nil {
		s.fail(w, c, err)
		return
	}
	defer runtime.KeepAlive(v)
	body, etag, ctype := v.body, v.etag, "application/json"
	if zst {
		z, err := v.files.zstd(s.spool, v.body)
		if err != nil {
			s.fail(w, c, err)
			return
		}
		body, etag, ctype = z.path, etag[:len(etag)-1]+`-zst"`, "application/zstd"
	}
	fh, err := os.Open(body)
	if err != nil {
		s.fail(w, c, err)
		return
	}
	defer fh.Close()
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("ETag", etag)
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.cfg.Refresh.Seconds())))
	if v.legacy {
		h.Set("X-Conda-Trust-Verified", legacyUnverified)
		h.Set("X-Conda-Trust-Records", fmt.Sprintf("unverified=%d", v.file.Len()))
	} else {
		h.Set("X-Conda-Trust-Records", fmt.Sprintf("trusted=%d dropped=%d", v.counts[0], v.counts[1]+v.counts[2]))
	}
	if stale != nil {
		h.Set("Warning", `110 - "Response is Stale"`)
		h.Set("X-Conda-Trust-Stale", fmt.Sprintf("%ds; upstream: %v", int(stale.age.Seconds()), stale.err))
	}
	http.ServeContent(w, r, file, v.modTime, fh)
}

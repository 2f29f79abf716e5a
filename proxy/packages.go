package proxy

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/legacysign"
	"github.com/condatrust/condatrust/proxy/pkgcache"
	"github.com/condatrust/condatrust/trust"
)

// recordRefusedError is a package whose record was dropped from the
// verified repodata: answered 403 with the record's rule.
type recordRefusedError struct{ err error }

func (e *recordRefusedError) Error() string { return e.err.Error() }
func (e *recordRefusedError) Unwrap() error { return e.err }

// servePackage answers NAME/SUBDIR/FILE.conda|.tar.bz2: only a package
// whose record is in the current verified repodata, from the cache, after
// its bytes matched the record. A legacy channel's package must verify
// with its .sig instead ([Server.legacyPackage]).
func (s *Server) servePackage(w *respWriter, r *http.Request, c *channel, subdir, fn string) {
	v, _, err := c.current(r.Context(), docKey{subdir, "repodata.json"})
	if err != nil {
		if errors.Is(err, client.ErrNotFound) {
			err = fmt.Errorf("%s/%s: the upstream has no repodata.json for %s, so nothing vouches for this package: %w", subdir, fn, subdir, err)
		}
		s.fail(w, c, err)
		return
	}
	// The view's mapped records are read until the package is served.
	defer runtime.KeepAlive(v)
	if c.legacy != nil {
		s.serveLegacy(w, r, c, v, subdir, fn, false)
		return
	}
	if derr, ok := v.dropped[fn]; ok {
		// Counted in refusals when the repodata was verified.
		s.fail(w, c, &recordRefusedError{derr})
		return
	}
	// The served document holds only trusted records; its record of fn
	// is verified again (a cache lookup) to get the bound, checkable
	// record and what the bytes must be.
	pkg, err := v.verifier.VerifyPackageRecord(v.file, subdir, fn)
	if err != nil {
		if client.RuleOf(err) != trust.RuleNotListed {
			s.m.refusals.WithLabelValues(c.name, string(client.RuleOf(err))).Inc()
			err = &recordRefusedError{err}
		}
		s.fail(w, c, err)
		return
	}
	if v.pkgBaseErr != nil {
		s.m.refusals.WithLabelValues(c.name, string(client.RuleOf(v.pkgBaseErr))).Inc()
		s.fail(w, c, v.pkgBaseErr)
		return
	}
	u := v.pkgBase + url.PathEscape(fn)
	if c.attestation != nil {
		if err := c.checkAttestation(r.Context(), s.up, u, fn, hex.EncodeToString(pkg.Expect.SHA256)); err != nil {
			s.failPackage(w, r, c, subdir, fn, err)
			return
		}
	}
	entry, err := s.pkgs.Get(r.Context(), pkg.Expect, func(ctx context.Context) (io.ReadCloser, error) {
		return s.up.Fetch(ctx, u)
	})
	if err != nil {
		s.failPackage(w, r, c, subdir, fn, err)
		return
	}
	s.serveEntry(w, r, c, fn, entry)
}

// maxAttested bounds the accepted attestations a channel remembers; past
// it the memory starts again (each is then checked again once).
const maxAttested = 100000

// checkAttestation asks the channel's Attestation about package fn, whose
// verified record gives sha256, with its sidecar fetched from next to
// pkgURL, unless it accepted that pair before.
func (c *channel) checkAttestation(ctx context.Context, f client.Fetcher, pkgURL, fn, sha256 string) error {
	key := fn + "\x00" + sha256
	c.mu.Lock()
	ok := c.attested[key]
	c.mu.Unlock()
	if ok {
		return nil
	}
	a := client.Attestation{File: fn, SHA256: sha256, URL: pkgURL + client.AttestationSuffix}
	data, err := client.FetchAttestation(ctx, f, a.URL)
	if err != nil {
		return err
	}
	a.Sidecar = data
	if err := c.attestation(a); err != nil {
		return err
	}
	c.mu.Lock()
	if len(c.attested) >= maxAttested {
		c.attested = map[string]bool{}
	}
	c.attested[key] = true
	c.mu.Unlock()
	return nil
}

// failPackage answers a package request that failed at the download or
// at a legacy signature: a refusal is counted and logged (a legacy
// signature refusal is answered 403, as a refused record), an upstream
// failure too, by kind.
func (s *Server) failPackage(w *respWriter, r *http.Request, c *channel, subdir, fn string, err error) {
	if rule := client.RuleOf(err); rule != "" {
		key := ""
		var ve *trust.VerificationError
		var le *legacysign.VerifyError
		switch {
		case errors.As(err, &le):
			key = le.Key
		case errors.As(err, &ve):
			key = ve.Key
		}
		s.m.refusals.WithLabelValues(c.name, string(rule)).Inc()
		s.cfg.Logger.Warn("refused", "channel", c.name, "file", subdir+"/"+fn, "rule", string(rule), "key", key, "reason", err.Error())
		var rr *recordRefusedError
		if (rule == trust.RuleLegacySignature || rule == trust.RuleAttestation) && !errors.As(err, &rr) {
			err = &recordRefusedError{err}
		}
	} else if he := (*httpError)(nil); r.Context().Err() == nil && !errors.As(err, &he) {
		kind := upstreamErrorKind(err)
		s.m.upstreamErrors.WithLabelValues(c.name, kind).Inc()
		s.cfg.Logger.Warn("upstream failed", "channel", c.name, "file", subdir+"/"+fn, "kind", kind, "error", err.Error())
	}
	s.fail(w, c, err)
}

// serveEntry serves a verified package from the cache.
func (s *Server) serveEntry(w *respWriter, r *http.Request, c *channel, fn string, entry *pkgcache.Entry) {
	result := "miss"
	if entry.Hit {
		result = "hit"
	}
	s.m.cache.WithLabelValues(result).Inc()
	f, err := entry.Open()
	if err != nil {
		s.fail(w, c, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		s.fail(w, c, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"`+entry.SHA256+`"`)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Conda-Trust-Cache", result)
	http.ServeContent(w, r, fn, st.ModTime(), f)
}

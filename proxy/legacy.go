package proxy

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/legacysign"
	"github.com/condatrust/condatrust/proxy/pkgcache"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/trust"
)

// legacyUnverified is the X-Conda-Trust-Verified header of a legacy
// channel's repodata.
const legacyUnverified = "no (legacy conda sign channel: packages are verified, repodata is not)"

// legacyTmpDir is the folder under Config.CacheDir where a legacy package
// whose record has no sha256 is downloaded and verified before it enters
// the package cache.
const legacyTmpDir = "legacy-partial"

// legacyChannel is the conda sign policy of a Legacy channel.
type legacyChannel struct {
	keys    legacysign.KeyDir
	trusted []string
	pins    *legacysign.ChannelKeys
}

// policy returns the client's policy for package fn of the channel at
// url: the channel's trusted keys and those the pinning file allows for
// the package, as `conda-trust fetch --legacy-key --legacy-channel-keys`
// builds it.
func (l *legacyChannel) policy(url, fn string) *client.LegacyPolicy {
	names := slices.Clone(l.trusted)
	if l.pins != nil {
		names = append(names, l.pins.KeysForPackage(url, legacysign.PackageName(fn))...)
	}
	return &client.LegacyPolicy{Keys: l.keys, TrustedKeys: names}
}

// describe is the /healthz line of the channel.
func (l *legacyChannel) describe(c *channel) string {
	keys := "keys of the pinning file"
	if len(l.trusted) > 0 {
		keys = "keys " + strings.Join(l.trusted, ", ")
		if l.pins != nil {
			keys += " and those of the pinning file"
		}
	}
	return fmt.Sprintf("%s: legacy conda sign channel: packages verified (%s in %s), repodata not verified", c.name, keys, l.keys.Path)
}

// newLegacyChannel checks a Legacy channel's configuration. The channel
// must not be pinned for content trust: such a channel is never served
// under the weaker rules.
func (s *Server) newLegacyChannel(ch Channel, u string) (*legacyChannel, error) {
	cfg := &s.cfg
	if cfg.LegacyKeys == "" {
		return nil, fmt.Errorf("proxy: channel %s is legacy: give the folder of conda sign public keys (Config.LegacyKeys)", ch.Name)
	}
	if len(ch.TrustedKeys) == 0 && cfg.LegacyChannelKeys == nil {
		return nil, fmt.Errorf("proxy: channel %s is legacy but no conda sign key is trusted for it: name its keys (TrustedKeys) or give a pinning file", ch.Name)
	}
	for _, k := range ch.TrustedKeys {
		if err := legacysign.CheckKeyName(k); err != nil {
			return nil, fmt.Errorf("proxy: channel %s: %w", ch.Name, err)
		}
	}
	_, err := s.store.Channel(u)
	switch {
	case err == nil:
		return nil, fmt.Errorf("proxy: channel %s (%s) is pinned for content trust, so it is not served under legacy conda sign rules: a pinned channel never falls back to weaker ones (remove its pin, or serve it as a content-trust channel)", ch.Name, u)
	case !errors.Is(err, client.ErrNotPinned):
		return nil, fmt.Errorf("proxy: channel %s: %w", ch.Name, err)
	}
	dir, err := filepath.Abs(cfg.LegacyKeys)
	if err != nil {
		return nil, fmt.Errorf("proxy: legacy keys: %w", err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("proxy: legacy keys folder %s: not a readable directory", cfg.LegacyKeys)
	}
	l := &legacyChannel{keys: legacysign.KeyDir{Path: dir}, trusted: slices.Clone(ch.TrustedKeys), pins: cfg.LegacyChannelKeys}
	for _, k := range l.trusted {
		if _, err := l.keys.PublicKey(k); err != nil {
			cfg.Logger.Warn("conda sign key not usable; packages signed with it are refused", "channel", ch.Name, "key", k, "error", err.Error())
		}
	}
	return l, nil
}

// legacyView builds the view of a legacy channel's repodata (the file
// up): served as fetched, once it parses strictly as repodata, without
// info.base_url. Nothing in it is verified. It takes up: on an error, its
// file is removed.
func (c *channel) legacyView(up spooled, u, subdir string) (_ *view, err error) {
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
	_, base := f.Info()
	body := up
	if base != "" {
		if body, err = s.spool.writeWithoutBaseURL(up.path); err != nil {
			return nil, fmt.Errorf("%s: removing info.base_url: %w", u, err)
		}
		files.paths = append(files.paths, body.path)
	}
	pkgBase, pkgBaseErr := c.subdirURL(subdir, ""), error(nil)
	if base != "" {
		pkgBase, pkgBaseErr = repodata.ResolveBaseURL(c.url, u, base)
	}
	s.m.records.WithLabelValues(c.name, subdir, "unverified").Set(float64(f.Len()))
	return newView(&view{
		body: body.path, size: body.size, etag: `"` + hex.EncodeToString(body.sum[:16]) + `"`, modTime: s.cfg.Now().UTC().Truncate(time.Second),
		file: f, gen: legacyTrust.gen, subdir: subdir, pkgBase: pkgBase, pkgBaseErr: pkgBaseErr, dropped: map[string]error{},
		legacy: true, verdicts: map[string]*legacyVerdict{},
	}, files), nil
}

// legacyVerdict is a package of a legacy view whose .sig verified: over
// expect.SHA256, which the cached bytes are checked against.
type legacyVerdict struct {
	expect repodata.Expect // with a size and sha256
	sig    []byte
	key    string
	at     time.Time
}

func (v *view) verdict(fn string, now time.Time, ttl time.Duration) *legacyVerdict {
	v.lmu.Lock()
	defer v.lmu.Unlock()
	vd := v.verdicts[fn]
	if vd == nil || now.Sub(vd.at) >= ttl || now.Before(vd.at) {
		return nil
	}
	return vd
}

func (v *view) remember(fn string, vd *legacyVerdict) {
	v.lmu.Lock()
	defer v.lmu.Unlock()
	v.verdicts[fn] = vd
}

// legacyPackage returns the cached, verified package fn of a legacy
// channel and the .sig that verified it. The rules, in order:
//
//  1. The upstream repodata must list fn; its record (unsigned) gives
//     what the bytes must be where it says ([repodata.ExpectFromUnsigned]).
//  2. FILE.sig is fetched from next to the package in the subdir; it must
//     exist, parse, and name a key trusted for the channel and installed
//     (client.LegacyPolicy.CheckSignatureKey), before any package byte is
//     fetched.
//  3. A record with a size and sha256: the signature must verify over the
//     record's sha256, and the package cache then admits only bytes of that
//     size and sha256 (and md5). A record without: the package is
//     downloaded (at most the record's size, or 4 GiB) into CacheDir, its
//     size and md5 checked where given, and the signature verified over the
//     SHA-256 of those bytes; only then does it enter the cache, keyed by
//     that SHA-256.
//
// A verdict is remembered with the view for Config.Refresh: within it,
// the package is served from the cache without asking for the .sig again
// (the cache admits only the bytes whose digest was verified).
func (s *Server) legacyPackage(ctx context.Context, c *channel, v *view, subdir, fn string) (*pkgcache.Entry, *legacyVerdict, error) {
	now := s.cfg.Now()
	if vd := v.verdict(fn, now, s.cfg.Refresh); vd != nil {
		u := v.pkgBase + url.PathEscape(fn)
		entry, err := s.pkgs.Get(ctx, vd.expect, func(ctx context.Context) (io.ReadCloser, error) { return s.up.Fetch(ctx, u) })
		return entry, vd, err
	}
	rec, ok := v.file.Record(fn)
	if !ok {
		return nil, nil, notFound("%s/%s is not in the upstream repodata", subdir, fn)
	}
	val, err := rec.Value()
	if err != nil {
		return nil, nil, fmt.Errorf("%s/repodata.json: %w", subdir, err)
	}
	expect, err := repodata.ExpectFromUnsigned(fn, val)
	if err != nil {
		return nil, nil, &recordRefusedError{err}
	}
	pol := c.legacy.policy(c.url, fn)
	sig, err := client.FetchLegacySignature(ctx, s.up, fn, client.LegacySignatureURL(c.url, subdir, fn))
	if err != nil {
		return nil, nil, err
	}
	key, err := pol.CheckSignatureKey(fn, sig)
	if err != nil {
		return nil, nil, err
	}
	if v.pkgBaseErr != nil {
		return nil, nil, v.pkgBaseErr
	}
	u := v.pkgBase + url.PathEscape(fn)
	fetch := func(ctx context.Context) (io.ReadCloser, error) { return s.up.Fetch(ctx, u) }
	if expect.SHA256 == nil || expect.Size < 0 {
		full, tmp, err := s.legacyDownload(ctx, u, expect, func(digest []byte) error {
			_, err := pol.VerifyDigest(fn, digest, sig)
			return err
		})
		if err != nil {
			return nil, nil, err
		}
		defer os.Remove(tmp)
		expect = full
		fetch = func(context.Context) (io.ReadCloser, error) { return os.Open(tmp) }
	} else if _, err := pol.VerifyDigest(fn, expect.SHA256, sig); err != nil {
		return nil, nil, err
	}
	entry, err := s.pkgs.Get(ctx, expect, fetch)
	if err != nil {
		return nil, nil, err
	}
	vd := &legacyVerdict{expect: expect, sig: sig, key: key, at: now}
	v.remember(fn, vd)
	return entry, vd, nil
}

// legacyDownload downloads a package whose record gives no sha256 (or no
// size) into a temporary file under CacheDir, through the record's
// ByteCheck (size and md5 where given), capped at the record's size or
// client.DefaultMaxUnsignedSize, and calls verify with the SHA-256 of the
// bytes. It returns the Expect of those bytes and the file, which the
// caller removes; on any failure the file is removed here.
func (s *Server) legacyDownload(ctx context.Context, u string, e repodata.Expect, verify func(digest []byte) error) (repodata.Expect, string, error) {
	select {
	case s.legacySem <- struct{}{}:
	case <-ctx.Done():
		return e, "", ctx.Err()
	}
	defer func() { <-s.legacySem }()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Deadline)
	defer cancel()
	limit := e.Size
	if limit < 0 {
		limit = client.DefaultMaxUnsignedSize
	}
	body, err := s.up.Fetch(ctx, u)
	if err != nil {
		return e, "", err
	}
	defer body.Close()
	dir := filepath.Join(s.cfg.CacheDir, legacyTmpDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return e, "", err
	}
	f, err := os.CreateTemp(dir, ".legacy-*")
	if err != nil {
		return e, "", err
	}
	tmp := f.Name()
	fail := func(err error) (repodata.Expect, string, error) {
		f.Close()
		os.Remove(tmp)
		return e, "", err
	}
	check := e.NewCheck()
	_, err = io.Copy(io.MultiWriter(check, f), &capReader{r: body, left: limit, limit: limit, url: u})
	var tl *client.TooLargeError
	switch {
	case errors.As(err, &tl):
		return fail(&trust.VerificationError{Role: e.Filename, Rule: trust.RuleArtifactHash,
			Detail: fmt.Sprintf("the server sent more than the %d bytes allowed", limit)})
	case err != nil:
		return fail(err)
	}
	if err := check.Verify(); err != nil {
		return fail(err)
	}
	digest, _ := hex.DecodeString(check.SHA256())
	if err := verify(digest); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return e, "", err
	}
	return repodata.Expect{Filename: e.Filename, Size: check.Size(), SHA256: digest, MD5: e.MD5}, tmp, nil
}

// cleanLegacyTmp removes what a process killed mid-download left in the
// legacy download folder (one proxy per cache folder, as documented).
func cleanLegacyTmp(cacheDir string) {
	dir := filepath.Join(cacheDir, legacyTmpDir)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".legacy-") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// serveLegacy answers a package of a legacy channel, or with sig set its
// FILE.sig: the .sig bytes that verified the package, served only once
// the package verified with them.
func (s *Server) serveLegacy(w *respWriter, r *http.Request, c *channel, v *view, subdir, fn string, sig bool) {
	entry, vd, err := s.legacyPackage(r.Context(), c, v, subdir, fn)
	if err != nil {
		s.failPackage(w, r, c, subdir, fn, err)
		return
	}
	if sig {
		entry.Close()
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Conda-Trust-Verified", "legacy conda sign (key "+vd.key+")")
		http.ServeContent(w, r, fn+".sig", time.Time{}, bytes.NewReader(vd.sig))
		return
	}
	w.Header().Set("X-Conda-Trust-Verified", "legacy conda sign (key "+vd.key+")")
	s.serveEntry(w, r, c, fn, entry)
}

// serveLegacySig answers NAME/SUBDIR/FILE.sig of a legacy channel.
func (s *Server) serveLegacySig(w *respWriter, r *http.Request, c *channel, subdir, fn string) {
	v, _, err := c.current(r.Context(), docKey{subdir, "repodata.json"})
	if err != nil {
		s.fail(w, c, err)
		return
	}
	defer runtime.KeepAlive(v)
	s.serveLegacy(w, r, c, v, subdir, fn, true)
}

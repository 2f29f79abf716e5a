package proxy

import (
	"bytes"
	"crypto/rsa"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/client/clienttest"
	"github.com/condatrust/condatrust/legacysign"
	"github.com/condatrust/condatrust/trust"
)

var legacyTestKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := legacysign.GenerateKey(legacysign.KeyOptions{})
	if err != nil {
		panic(err)
	}
	return k
})

// legacyKeysDir returns a folder holding the public key of legacyTestKey
// under each of names.
func legacyKeysDir(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	pub, err := legacysign.MarshalPublicKey(&legacyTestKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n+".pub"), pub, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// newLegacyEnv is newEnv for a legacy conda sign channel: the package
// noarch/foo-1.0-0.conda is signed with `conda sign` (key MyKey: its
// record has "sig": "." and no content-trust signature), nothing is
// pinned, and the proxy serves the channel as "main" with Legacy set,
// MyKey trusted and installed unless opts change the configuration.
func newLegacyEnv(t *testing.T, opts ...func(*Config)) *env {
	t.Helper()
	ch := clienttest.New()
	e := &env{t: t, ch: ch, fn: ch.AddPackage("noarch", "foo", "1.0", "0"), requests: map[string]int{}}
	ch.SignLegacy("noarch", e.fn, &legacysign.SigningKey{Name: "MyKey", Key: legacyTestKey()})
	e.pkg = bytes.Clone(ch.File("noarch/" + e.fn))
	e.up = httptest.NewServer(http.HandlerFunc(e.upstream))
	t.Cleanup(e.up.Close)
	e.clock = &clock{t: ch.Now.Add(time.Minute)}
	e.logs = &syncBuffer{}
	e.cfg = Config{
		Channels:   []Channel{{Name: "main", URL: e.up.URL, Legacy: true, TrustedKeys: []string{"MyKey"}}},
		TrustDir:   t.TempDir(),
		CacheDir:   t.TempDir(),
		LegacyKeys: legacyKeysDir(t, "MyKey"),
		Refresh:    time.Minute, StaleFor: time.Hour,
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

// withoutHashes makes fn's record look like conda-build 1.x's: md5 only,
// no sha256 and no size, so the proxy must hash the bytes it downloads.
func withoutHashes(ch *clienttest.Channel, fn string) {
	ch.SetRecord("noarch", fn, ch.Record("noarch", fn).Without("sha256").Without("size"))
}

// refused checks a refusal: status, rule header, reason, the refusal
// counter and the log line.
func (e *env) refused(resp *http.Response, body []byte, status int, rule trust.Rule, reason string) {
	e.t.Helper()
	if resp.StatusCode != status || resp.Header.Get("X-Conda-Trust-Rule") != string(rule) ||
		!strings.Contains(string(body), "refused ("+string(rule)+")") || !strings.Contains(string(body), reason) {
		e.t.Errorf("got %d, rule %q, %q; want %d, rule %s, %q", resp.StatusCode, resp.Header.Get("X-Conda-Trust-Rule"), body, status, rule, reason)
	}
	if n := counter(e.t, e.srv.m.refusals, "main", string(rule)); n < 1 {
		e.t.Errorf("refusals_total{main,%s} = %v", rule, n)
	}
	if logs := e.logs.String(); !strings.Contains(logs, `"msg":"refused"`) || !strings.Contains(logs, `"rule":"`+string(rule)+`"`) {
		e.t.Errorf("no refusal logged for rule %s:\n%s", rule, logs)
	}
}

func TestLegacyChannelServed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(ch *clienttest.Channel, fn string)
	}{
		{name: "record with size and sha256"},
		{name: "record with md5 only", setup: withoutHashes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLegacyEnv(t)
			if tc.setup != nil {
				tc.setup(e.ch, e.fn)
			}
			resp, body := e.get("/main/noarch/repodata.json")
			if resp.StatusCode != 200 || resp.Header.Get("X-Conda-Trust-Verified") != legacyUnverified {
				t.Fatalf("repodata: %d, X-Conda-Trust-Verified %q: %s", resp.StatusCode, resp.Header.Get("X-Conda-Trust-Verified"), body)
			}
			if !bytes.Equal(body, e.ch.File("noarch/repodata.json")) {
				t.Errorf("the legacy repodata is not served as fetched")
			}
			resp, got := e.get("/main/noarch/" + e.fn)
			if resp.StatusCode != 200 || !bytes.Equal(got, e.pkg) {
				t.Fatalf("package: %d %s", resp.StatusCode, got)
			}
			if v := resp.Header.Get("X-Conda-Trust-Verified"); v != "legacy conda sign (key MyKey)" {
				t.Errorf("X-Conda-Trust-Verified %q", v)
			}
			resp, got = e.get("/main/noarch/" + e.fn + ".sig")
			if resp.StatusCode != 200 || !bytes.Equal(got, e.ch.File("noarch/"+e.fn+".sig")) {
				t.Errorf(".sig: %d %q", resp.StatusCode, got)
			}
			resp, got = e.get("/main/noarch/" + e.fn)
			if resp.StatusCode != 200 || !bytes.Equal(got, e.pkg) || resp.Header.Get("X-Conda-Trust-Cache") != "hit" {
				t.Errorf("second request: %d, cache %q", resp.StatusCode, resp.Header.Get("X-Conda-Trust-Cache"))
			}
			if n := e.upstreamRequests("noarch/" + e.fn); n != 1 {
				t.Errorf("upstream saw %d package requests, want 1", n)
			}
			if n := e.upstreamRequests("noarch/" + e.fn + ".sig"); n != 1 {
				t.Errorf("upstream saw %d .sig requests within one refresh, want 1", n)
			}
			// After Refresh the .sig is checked again; the bytes come from
			// the cache.
			e.next()
			if resp, _ := e.get("/main/noarch/" + e.fn); resp.StatusCode != 200 || resp.Header.Get("X-Conda-Trust-Cache") != "hit" {
				t.Errorf("after refresh: %d, cache %q", resp.StatusCode, resp.Header.Get("X-Conda-Trust-Cache"))
			}
			if n := e.upstreamRequests("noarch/" + e.fn + ".sig"); n != 2 {
				t.Errorf("upstream saw %d .sig requests after a refresh, want 2", n)
			}
			// Ready, and /healthz says what is and is not verified.
			resp, body = e.get("/healthz")
			if resp.StatusCode != 200 || !strings.Contains(string(body), "main: legacy conda sign channel: packages verified (keys MyKey") ||
				!strings.Contains(string(body), "repodata not verified") {
				t.Errorf("healthz: %d %s", resp.StatusCode, body)
			}
			// No content-trust metadata for a legacy channel.
			if resp, _ := e.get("/main/key_mgr.json"); resp.StatusCode != 404 {
				t.Errorf("key_mgr.json: %d", resp.StatusCode)
			}
		})
	}
}

func TestLegacyRefusals(t *testing.T) {
	tamper := func(ch *clienttest.Channel, fn string) {
		evil := append(ch.File("noarch/"+fn), "trailing"...)
		md5s, sha := clienttest.Digests(evil)
		ch.SetFile("noarch/"+fn, evil)
		ch.EditRecord("noarch", fn, "md5", canonjson.MustString(md5s))
		if _, ok := ch.Record("noarch", fn).Get("sha256"); ok {
			ch.EditRecord("noarch", fn, "sha256", canonjson.MustString(sha))
			ch.EditRecord("noarch", fn, "size", canonjson.NewInt(int64(len(evil))))
		}
	}
	for _, tc := range []struct {
		name   string
		cfg    func(*Config)
		setup  func(ch *clienttest.Channel, fn string)
		status int
		rule   trust.Rule
		reason string
		// downloaded: whether the package may be requested upstream (only
		// when its bytes decide).
		downloaded bool
	}{
		{name: "payload replaced, record updated to match", setup: tamper,
			status: 403, rule: trust.RuleLegacySignature, reason: "signature is invalid"},
		{name: "payload replaced, md5-only record updated to match", downloaded: true,
			setup:  func(ch *clienttest.Channel, fn string) { withoutHashes(ch, fn); tamper(ch, fn) },
			status: 403, rule: trust.RuleLegacySignature, reason: "signature is invalid"},
		{name: "payload replaced, record unchanged", downloaded: true,
			setup: func(ch *clienttest.Channel, fn string) {
				ch.SetFile("noarch/"+fn, append(ch.File("noarch/" + fn)[:10:10], "evil"...))
			},
			status: 502, rule: trust.RuleArtifactHash, reason: "differs from the record"},
		{name: ".sig missing",
			setup:  func(ch *clienttest.Channel, fn string) { ch.SetFile("noarch/"+fn+".sig", nil) },
			status: 403, rule: trust.RuleLegacySignature, reason: "signature does not exist"},
		{name: `"sig" removed from the record does not skip the check`,
			setup: func(ch *clienttest.Channel, fn string) {
				ch.SetRecord("noarch", fn, ch.Record("noarch", fn).Without("sig"))
				ch.SetFile("noarch/"+fn+".sig", nil)
			},
			status: 403, rule: trust.RuleLegacySignature, reason: "signature does not exist"},
		{name: "key not installed", cfg: func(c *Config) { c.LegacyKeys = legacyKeysDir(t, "OtherKey") },
			status: 403, rule: trust.RuleLegacySignature, reason: "public key does not exist"},
		{name: "key installed but not trusted for the channel",
			cfg: func(c *Config) {
				c.LegacyKeys = legacyKeysDir(t, "MyKey", "OtherKey")
				c.Channels[0].TrustedKeys = []string{"OtherKey"}
			},
			status: 403, rule: trust.RuleLegacySignature, reason: `key is not trusted: "MyKey"`},
		{name: "malformed .sig",
			setup:  func(ch *clienttest.Channel, fn string) { ch.SetFile("noarch/"+fn+".sig", []byte("MyKey a b\n")) },
			status: 403, rule: trust.RuleLegacySignature, reason: "malformed signature file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []func(*Config)
			if tc.cfg != nil {
				opts = append(opts, tc.cfg)
			}
			e := newLegacyEnv(t, opts...)
			good := e.pkg
			if tc.setup != nil {
				tc.setup(e.ch, e.fn)
			}
			resp, body := e.get("/main/noarch/" + e.fn)
			e.refused(resp, body, tc.status, tc.rule, tc.reason)
			if n := e.upstreamRequests("noarch/" + e.fn); !tc.downloaded && n != 0 {
				t.Errorf("the package was downloaded (%d requests) although its .sig or record already decided", n)
			}
			// The .sig is not served for a package that did not verify.
			if resp, body := e.get("/main/noarch/" + e.fn + ".sig"); resp.StatusCode != tc.status {
				t.Errorf(".sig: %d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if st := e.srv.pkgs.Stats(); st.Entries != 0 {
				t.Errorf("the refused package entered the cache: %+v", st)
			}
			if ents, _ := os.ReadDir(filepath.Join(e.cfg.CacheDir, legacyTmpDir)); len(ents) != 0 {
				t.Errorf("%d files left in %s", len(ents), legacyTmpDir)
			}
			// Repaired upstream, the next request (after the verdict's
			// refresh) gets the good bytes.
			if tc.cfg != nil {
				return
			}
			e.ch.SetFile("noarch/"+e.fn, good)
			e.ch.SignLegacy("noarch", e.fn, &legacysign.SigningKey{Name: "MyKey", Key: legacyTestKey()})
			md5s, sha := clienttest.Digests(good)
			e.ch.EditRecord("noarch", e.fn, "md5", canonjson.MustString(md5s))
			e.ch.EditRecord("noarch", e.fn, "sha256", canonjson.MustString(sha))
			e.ch.EditRecord("noarch", e.fn, "size", canonjson.NewInt(int64(len(good))))
			e.next()
			if resp, got := e.get("/main/noarch/" + e.fn); resp.StatusCode != 200 || !bytes.Equal(got, good) {
				t.Errorf("after repair: %d %s", resp.StatusCode, got)
			}
		})
	}
}

// TestLegacyPinningFile: keys trusted through a pinning file bound to the
// channel's URL.
func TestLegacyPinningFile(t *testing.T) {
	var upURL string
	e := newLegacyEnv(t, func(c *Config) {
		upURL = c.Channels[0].URL
		ck, err := legacysign.ParseChannelKeys(strings.NewReader(upURL + " MyKey\n"))
		if err != nil {
			t.Fatal(err)
		}
		c.Channels[0].TrustedKeys = nil
		c.LegacyChannelKeys = ck
	})
	if resp, body := e.get("/main/noarch/" + e.fn); resp.StatusCode != 200 {
		t.Fatalf("package: %d %s", resp.StatusCode, body)
	}
	// A file that pins the key for another channel only.
	e2 := newLegacyEnv(t, func(c *Config) {
		ck, _ := legacysign.ParseChannelKeys(strings.NewReader("https://other.example.org/ch MyKey\n"))
		c.Channels[0].TrustedKeys = nil
		c.LegacyChannelKeys = ck
	})
	resp, body := e2.get("/main/noarch/" + e2.fn)
	e2.refused(resp, body, 403, trust.RuleLegacySignature, "key is not trusted")
}

// TestContentTrustChannelIgnoresLegacy: a channel pinned for content trust
// whose record lost its signatures and carries a conda sign mark is not
// verified by the legacy rules, whatever legacy keys the proxy has: the
// record is dropped as unsigned, the package refused, the .sig not served,
// and neither is asked from the upstream.
func TestContentTrustChannelIgnoresLegacy(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LegacyKeys = legacyKeysDir(t, "MyKey") })
	e.ch.SignLegacy("noarch", e.fn, &legacysign.SigningKey{Name: "MyKey", Key: legacyTestKey()})
	resp, body := e.get("/main/noarch/repodata.json")
	if resp.StatusCode != 200 || hasRecord(e.served(body), e.fn) || resp.Header.Get("X-Conda-Trust-Verified") != "" {
		t.Fatalf("repodata: %d, X-Conda-Trust-Verified %q, record kept: %v", resp.StatusCode, resp.Header.Get("X-Conda-Trust-Verified"), hasRecord(e.served(body), e.fn))
	}
	resp, body = e.get("/main/noarch/" + e.fn)
	if resp.StatusCode != 403 || resp.Header.Get("X-Conda-Trust-Rule") != string(trust.RuleUnsigned) {
		t.Errorf("package: %d %s, want 403 unsigned", resp.StatusCode, body)
	}
	if resp, _ := e.get("/main/noarch/" + e.fn + ".sig"); resp.StatusCode != 404 {
		t.Errorf(".sig: %d, want 404", resp.StatusCode)
	}
	for _, p := range []string{"noarch/" + e.fn, "noarch/" + e.fn + ".sig"} {
		if n := e.upstreamRequests(p); n != 0 {
			t.Errorf("%s requested %d times; a pinned channel must not fall back to legacy signatures", p, n)
		}
	}
	if strings.Contains(e.logs.String(), string(trust.RuleLegacySignature)) {
		t.Errorf("legacy rules applied to a content-trust channel:\n%s", e.logs.String())
	}
}

func TestLegacyConfigRefused(t *testing.T) {
	keys := legacyKeysDir(t, "MyKey")
	pinned := newEnv(t)
	for _, tc := range []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"legacy channel pinned for content trust",
			Config{Channels: []Channel{{Name: "x", URL: pinned.up.URL, Legacy: true, TrustedKeys: []string{"MyKey"}}}, TrustDir: pinned.cfg.TrustDir, LegacyKeys: keys},
			"is pinned for content trust, so it is not served under legacy conda sign rules"},
		{"no keys folder",
			Config{Channels: []Channel{{Name: "x", URL: "https://old.example.org/x", Legacy: true, TrustedKeys: []string{"MyKey"}}}},
			"give the folder of conda sign public keys"},
		{"no trusted key",
			Config{Channels: []Channel{{Name: "x", URL: "https://old.example.org/x", Legacy: true}}, LegacyKeys: keys},
			"no conda sign key is trusted for it"},
		{"bad key name",
			Config{Channels: []Channel{{Name: "x", URL: "https://old.example.org/x", Legacy: true, TrustedKeys: []string{"../evil"}}}, LegacyKeys: keys},
			"channel x"},
		{"keys folder missing",
			Config{Channels: []Channel{{Name: "x", URL: "https://old.example.org/x", Legacy: true, TrustedKeys: []string{"MyKey"}}}, LegacyKeys: filepath.Join(keys, "nope")},
			"not a readable directory"},
		{"trusted keys on a content-trust channel",
			Config{Channels: []Channel{{Name: "x", URL: pinned.up.URL, TrustedKeys: []string{"MyKey"}}}, TrustDir: pinned.cfg.TrustDir, LegacyKeys: keys},
			"only for a legacy channel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.TrustDir == "" {
				tc.cfg.TrustDir = t.TempDir()
			}
			tc.cfg.CacheDir = t.TempDir()
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("New: %v, want an error containing %q", err, tc.msg)
			}
		})
	}
	// A legacy channel is not pinned, and that is fine.
	if _, err := New(Config{Channels: []Channel{{Name: "x", URL: "https://old.example.org/x", Legacy: true, TrustedKeys: []string{"MyKey"}}},
		TrustDir: t.TempDir(), CacheDir: t.TempDir(), LegacyKeys: keys}); err != nil {
		t.Errorf("New: %v", err)
	}
}

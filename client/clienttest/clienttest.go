// Package clienttest builds signed conda channels for tests of the
// content-trust client: keys derived from fixed labels, a root chain,
// key_mgr, real .conda packages written with package condapkg, records
// signed with package signer, and the whole channel served from memory,
// from a directory, or by an httptest server whose individual files can be
// replaced by handlers (to stall, truncate or lie).
//
// Nothing here verifies anything; it produces what a channel operator (or
// an attacker) would publish.
package clienttest

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/legacysign"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// Channel is a conda channel under construction. Its zero value is not
// usable; call [New]. Methods are safe for concurrent use, so a test can
// change the channel while a server serves it.
type Channel struct {
	// Now is the issue time of the metadata New writes; expiry is a year
	// later (key_mgr: six months).
	Now time.Time

	mu      sync.Mutex
	keys    map[string]*signer.Key
	files   map[string][]byte // metadata and other files set directly
	subdirs map[string]*subdir
	handler map[string]http.HandlerFunc
	// Zstd serves repodata.json.zst next to repodata.json.
	zstd bool
}

type subdir struct {
	records map[string]canonjson.Value
	sigs    map[string]canonjson.Value
	removed map[string]bool // records with their signatures entry deleted
}

// New returns a channel with root v1 (root key "root1", threshold 1,
// key_mgr key "key_mgr") and key_mgr v1 (pkg_mgr key "pkg_mgr", threshold
// 1), both signed, and an empty noarch subdir.
func New() *Channel {
	c := &Channel{
		Now:     time.Now().UTC().Truncate(time.Second),
		keys:    map[string]*signer.Key{},
		files:   map[string][]byte{},
		subdirs: map[string]*subdir{},
		handler: map[string]http.HandlerFunc{},
	}
	c.SetFile("1.root.json", c.Root(RootSpec{Version: 1}))
	c.SetFile("key_mgr.json", c.KeyMgr(KeyMgrSpec{Version: 1}))
	c.subdir("noarch")
	return c
}

// Key returns the key named label, derived from it: the same label always
// gives the same key. Labels used by New: root1, key_mgr, pkg_mgr.
func (c *Channel) Key(label string) *signer.Key {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.key(label)
}

func (c *Channel) key(label string) *signer.Key {
	if k, ok := c.keys[label]; ok {
		return k
	}
	seed := sha256.Sum256([]byte("condatrust/clienttest/" + label))
	k, err := signer.NewKey(seed[:])
	if err != nil {
		panic(err)
	}
	c.keys[label] = k
	return k
}

func (c *Channel) pubs(labels []string) []trust.PublicKey {
	out := make([]trust.PublicKey, len(labels))
	for i, l := range labels {
		out[i] = c.Key(l).Public()
	}
	return out
}

// RootSpec describes a root to build. Zero fields take defaults.
type RootSpec struct {
	Version    int64     // default 1
	RootKeys   []string  // default root1
	Threshold  int       // default 1
	KeyMgrKeys []string  // default key_mgr
	Expires    time.Time // default Now + 1 year
	// SignedBy lists the signing keys; default RootKeys. A root N+1 must
	// be signed by the previous root's keys too: list them here.
	SignedBy []string
}

// Root builds and signs (OpenPGP-style) a root document.
func (c *Channel) Root(s RootSpec) []byte {
	if s.Version == 0 {
		s.Version = 1
	}
	if s.RootKeys == nil {
		s.RootKeys = []string{"root1"}
	}
	if s.Threshold == 0 {
		s.Threshold = 1
	}
	if s.KeyMgrKeys == nil {
		s.KeyMgrKeys = []string{"key_mgr"}
	}
	if s.Expires.IsZero() {
		s.Expires = c.Now.AddDate(1, 0, 0)
	}
	if s.SignedBy == nil {
		s.SignedBy = s.RootKeys
	}
	env, err := trust.Build(trust.Params{Type: trust.RoleRoot, Version: s.Version, Timestamp: c.Now, Expiration: s.Expires,
		Delegations: map[string]trust.Delegation{
			trust.RoleRoot:   {Keys: c.pubs(s.RootKeys), Threshold: s.Threshold},
			trust.RoleKeyMgr: {Keys: c.pubs(s.KeyMgrKeys), Threshold: 1},
		}})
	if err != nil {
		panic(err)
	}
	for _, k := range s.SignedBy {
		if err := signer.SignEnvelope(env, c.Key(k), trust.FormOpenPGP, signer.OpenPGPOptions{Created: c.Now}); err != nil {
			panic(err)
		}
	}
	return env.Marshal()
}

// KeyMgrSpec describes a key_mgr to build. Zero fields take defaults.
type KeyMgrSpec struct {
	Version    int64     // default 1
	PkgMgrKeys []string  // default pkg_mgr
	Threshold  int       // default 1
	Expires    time.Time // default Now + 6 months
	SignedBy   []string  // default key_mgr
}

// KeyMgr builds and signs (raw) a key_mgr document.
func (c *Channel) KeyMgr(s KeyMgrSpec) []byte {
	if s.Version == 0 {
		s.Version = 1
	}
	if s.PkgMgrKeys == nil {
		s.PkgMgrKeys = []string{"pkg_mgr"}
	}
	if s.Threshold == 0 {
		s.Threshold = 1
	}
	if s.Expires.IsZero() {
		s.Expires = c.Now.AddDate(0, 6, 0)
	}
	if s.SignedBy == nil {
		s.SignedBy = []string{"key_mgr"}
	}
	env, err := trust.Build(trust.Params{Type: trust.RoleKeyMgr, Version: s.Version, Timestamp: c.Now, Expiration: s.Expires,
		Delegations: map[string]trust.Delegation{trust.RolePkgMgr: {Keys: c.pubs(s.PkgMgrKeys), Threshold: s.Threshold}}})
	if err != nil {
		panic(err)
	}
	for _, k := range s.SignedBy {
		if err := signer.SignEnvelope(env, c.Key(k), trust.FormRaw, signer.OpenPGPOptions{}); err != nil {
			panic(err)
		}
	}
	return env.Marshal()
}

// SetFile serves data at path (relative to the channel URL); nil removes
// the file. A file set this way replaces a generated repodata.json.
func (c *Channel) SetFile(p string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if data == nil {
		delete(c.files, p)
		return
	}
	c.files[p] = data
}

// File returns what is served at path.
func (c *Channel) File(p string) []byte {
	return c.Files()[p]
}

// ServeZstd makes the channel serve repodata.json.zst next to each
// repodata.json.
func (c *Channel) ServeZstd(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.zstd = on
}

func (c *Channel) subdir(name string) *subdir {
	sd, ok := c.subdirs[name]
	if !ok {
		sd = &subdir{records: map[string]canonjson.Value{}, sigs: map[string]canonjson.Value{}, removed: map[string]bool{}}
		c.subdirs[name] = sd
	}
	return sd
}

// AddPackage writes a real .conda package NAME-VERSION-BUILD.conda with
// one file, adds its record to the subdir's repodata as an indexer would
// (info/index.json plus md5, sha256 and size) and signs the record with
// the pkg_mgr key. It returns the file name.
func (c *Channel) AddPackage(sub, name, version, build string) string {
	stem := name + "-" + version + "-" + build
	index, err := canonjson.FromGo(map[string]any{
		"name": name, "version": version, "build": build, "build_number": 0,
		"depends": []string{}, "license": "MIT", "subdir": sub, "timestamp": c.Now.UnixMilli(),
	})
	if err != nil {
		panic(err)
	}
	src := fstest.MapFS{
		"info/index.json":        {Data: canonjson.Marshal(index)},
		"lib/" + name + "/a.txt": {Data: []byte("payload of " + stem + "\n")},
	}
	var buf bytes.Buffer
	if err := condapkg.WriteConda(&buf, stem, src, condapkg.WriteOptions{}); err != nil {
		panic(err)
	}
	fn := stem + ".conda"
	if err := c.AddFile(sub, fn, buf.Bytes(), index); err != nil {
		panic(err)
	}
	return fn
}

// AddFile adds any bytes as package fn with a record made of base plus
// md5, sha256 and size read with condapkg (or computed, for bytes that are
// not a package), signed by the pkg_mgr key.
func (c *Channel) AddFile(sub, fn string, data []byte, base canonjson.Value) error {
	rec := base
	if rec.Kind() != canonjson.Object {
		rec, _ = canonjson.NewObject(map[string]canonjson.Value{})
	}
	info, err := condapkg.Read(bytes.NewReader(data), fn, condapkg.ReadOptions{})
	var md5s, sha string
	if err == nil {
		md5s, sha = info.MD5, info.SHA256
	} else {
		md5s, sha = Digests(data)
	}
	for k, v := range map[string]canonjson.Value{
		"md5": canonjson.MustString(md5s), "sha256": canonjson.MustString(sha), "size": canonjson.NewInt(int64(len(data))),
	} {
		if rec, err = rec.With(k, v); err != nil {
			return err
		}
	}
	c.SetFile(path.Join(sub, fn), data)
	c.SetRecord(sub, fn, rec)
	c.Sign(sub, fn, "pkg_mgr")
	return nil
}

// Record returns the record of fn.
func (c *Channel) Record(sub, fn string) canonjson.Value {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subdir(sub).records[fn]
}

// SetRecord replaces the record of fn, keeping its signatures.
func (c *Channel) SetRecord(sub, fn string, rec canonjson.Value) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subdir(sub).records[fn] = rec
}

// EditRecord sets one field of fn's record, keeping its signatures.
func (c *Channel) EditRecord(sub, fn, key string, v canonjson.Value) {
	rec, err := c.Record(sub, fn).With(key, v)
	if err != nil {
		panic(err)
	}
	c.SetRecord(sub, fn, rec)
}

// Sign replaces the signatures of fn's current record by raw signatures
// of the given keys (by label).
func (c *Channel) Sign(sub, fn string, keys ...string) {
	env := trust.Wrap(c.Record(sub, fn))
	for _, k := range keys {
		if err := signer.SignEnvelope(env, c.Key(k), trust.FormRaw, signer.OpenPGPOptions{}); err != nil {
			panic(err)
		}
	}
	sigs, _ := env.Value().Get("signatures")
	c.mu.Lock()
	defer c.mu.Unlock()
	sd := c.subdir(sub)
	sd.sigs[fn] = sigs
	delete(sd.removed, fn)
}

// RemoveSignatures deletes fn's entry from "signatures".
func (c *Channel) RemoveSignatures(sub, fn string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sd := c.subdir(sub)
	delete(sd.sigs, fn)
	sd.removed[fn] = true
}

// SignLegacy turns fn into a legacy `conda sign` package: its record
// gets "sig": ".", loses its content-trust signatures, and fn.sig holds
// key's RSASSA-PSS signature of the package bytes.
func (c *Channel) SignLegacy(sub, fn string, key *legacysign.SigningKey) {
	data := c.File(path.Join(sub, fn))
	sig, err := key.Sign(bytes.NewReader(data))
	if err != nil {
		panic(err)
	}
	c.EditRecord(sub, fn, "sig", canonjson.MustString("."))
	c.RemoveSignatures(sub, fn)
	c.SetFile(path.Join(sub, fn+".sig"), sig.Marshal())
}

// Repodata renders a subdir's repodata.json as it is served now.
func (c *Channel) Repodata(sub string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.repodata(sub)
}

func (c *Channel) repodata(sub string) []byte {
	sd := c.subdir(sub)
	pk, pc, sigs := map[string]canonjson.Value{}, map[string]canonjson.Value{}, map[string]canonjson.Value{}
	for fn, r := range sd.records {
		if strings.HasSuffix(fn, ".conda") {
			pc[fn] = r
		} else {
			pk[fn] = r
		}
	}
	for fn, s := range sd.sigs {
		sigs[fn] = s
	}
	obj := func(m map[string]canonjson.Value) canonjson.Value {
		v, err := canonjson.NewObject(m)
		if err != nil {
			panic(err)
		}
		return v
	}
	top := map[string]canonjson.Value{
		"info":             obj(map[string]canonjson.Value{"subdir": canonjson.MustString(sub)}),
		"packages":         obj(pk),
		"packages.conda":   obj(pc),
		"removed":          canonjson.NewArray(),
		"repodata_version": canonjson.NewInt(1),
	}
	if len(sigs) > 0 || len(sd.removed) > 0 {
		top["signatures"] = obj(sigs)
	}
	return canonjson.Marshal(obj(top))
}

// Files returns every file the channel serves, by path relative to the
// channel URL.
func (c *Channel) Files() map[string][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]byte{}
	for name := range c.subdirs {
		rd := c.repodata(name)
		out[name+"/repodata.json"] = rd
		if c.zstd {
			out[name+"/repodata.json.zst"] = Zstd(rd)
		}
	}
	for p, d := range c.files {
		out[p] = d
	}
	return out
}

// URLs returns Files keyed by full URL under base (for
// client.NewMemoryFetcher).
func (c *Channel) URLs(base string) map[string][]byte {
	out := map[string][]byte{}
	for p, d := range c.Files() {
		out[strings.TrimRight(base, "/")+"/"+p] = d
	}
	return out
}

// WriteDir writes the channel's files under dir.
func (c *Channel) WriteDir(dir string) error {
	files := c.Files()
	names := make([]string, 0, len(files))
	for p := range files {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Handle makes the server answer requests for path with h instead of the
// file; nil restores the file.
func (c *Channel) Handle(p string, h http.HandlerFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h == nil {
		delete(c.handler, p)
		return
	}
	c.handler[p] = h
}

// Server serves the channel on a loopback httptest server, closed when
// the test ends. Files are read at each request, so changes show at once.
func (c *Channel) Server(t testing.TB) *httptest.Server {
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return srv
}

// ServeHTTP serves the channel: GET and HEAD, 404 for what is not there.
func (c *Channel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	c.mu.Lock()
	h := c.handler[p]
	c.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	data, ok := c.Files()[p]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(data)
}

// Digests returns the md5 and sha256 of data in lowercase hex.
func Digests(data []byte) (md5hex, sha256hex string) {
	m, s := md5.Sum(data), sha256.Sum256(data)
	return hex.EncodeToString(m[:]), hex.EncodeToString(s[:])
}

// Zstd compresses data as a repodata.json.zst.
func Zstd(data []byte) []byte {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		panic(err)
	}
	defer enc.Close()
	return enc.EncodeAll(data, nil)
}

// WriteCondaMeta records package fn of the channel at base (its URL) as
// installed in the environment at prefix: prefix/conda-meta/STEM.json
// with the fields conda writes (name, version, build, fn, url, channel,
// subdir, md5, sha256, size) taken from the current record.
func (c *Channel) WriteCondaMeta(prefix, base, sub, fn string) error {
	return c.WriteCondaMetaRecord(prefix, base, sub, fn, c.Record(sub, fn))
}

// WriteCondaMetaRecord is [Channel.WriteCondaMeta] with the fields taken
// from rec (a record as it was when the package was installed).
func (c *Channel) WriteCondaMetaRecord(prefix, base, sub, fn string, rec canonjson.Value) error {
	str := func(k string) string {
		v, _ := rec.Get(k)
		if v.Kind() == canonjson.String {
			return v.Str()
		}
		return ""
	}
	size, _ := rec.Get("size")
	n, _ := size.Int64()
	base = strings.TrimRight(base, "/")
	meta := map[string]any{
		"name": str("name"), "version": str("version"), "build": str("build"), "build_number": 0,
		"fn": fn, "url": base + "/" + sub + "/" + fn, "channel": base + "/" + sub, "subdir": sub,
		"md5": str("md5"), "sha256": str("sha256"), "size": n,
		"files": []string{}, "depends": []string{},
	}
	data, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Join(prefix, "conda-meta")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stem := strings.TrimSuffix(strings.TrimSuffix(fn, ".conda"), ".tar.bz2")
	return os.WriteFile(filepath.Join(dir, stem+".json"), data, 0o644)
}

package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/trust"
)

// Status is the verdict on one package record.
type Status string

// The verdicts of verification, as conda-trust reports them.
const (
	// StatusTrusted: the record is signed by a threshold of key_mgr's
	// pkg_mgr keys (or, for a legacy channel, the package has a valid
	// `conda sign` signature by a key trusted for the channel) and the
	// bytes or recorded hashes match it.
	StatusTrusted Status = "trusted"
	// StatusUntrusted: signatures, hashes or metadata were refused.
	StatusUntrusted Status = "untrusted"
	// StatusUnsigned: the record carries no signature at all.
	StatusUnsigned Status = "unsigned"
	// StatusUnknown: the record could not be found or its channel is not
	// pinned, so nothing could be verified.
	StatusUnknown Status = "unknown"
)

// StatusOf maps the error of a verification to a verdict: nil is
// trusted, a refusal with rule "unsigned" is unsigned, any other refusal
// untrusted, and anything else (not found, not pinned, I/O) unknown.
func StatusOf(err error) Status {
	switch {
	case err == nil:
		return StatusTrusted
	case RuleOf(err) == trust.RuleUnsigned:
		return StatusUnsigned
	case errors.Is(err, trust.ErrVerification):
		return StatusUntrusted
	}
	return StatusUnknown
}

// Repodata is one subdir's repodata.json as served, split by package
// repodata: records and signatures by file name, kept as raw bytes and
// parsed only when used. Duplicate keys resolve as Python's json does (the
// last one wins), the same way the canonical form that was signed
// resolves them.
type Repodata struct {
	// Source is where the document came from (a URL or a path).
	Source string
	// Subdir is info.subdir, "" when absent.
	Subdir string
	// BaseURL is info.base_url (CEP 15), "" when absent.
	BaseURL string

	file *repodata.File
}

// ParseRepodata splits a repodata.json document. An empty document is an
// empty repodata (CEP 36). data must not be modified afterwards.
func ParseRepodata(data []byte, source string) (*Repodata, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	f, err := repodata.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	rd := &Repodata{Source: source, file: f}
	// repodata.File does not expose "info"; find it without building the
	// rest (the document was fully checked by Parse).
	var info []byte
	if err := canonjson.ForEachMember(data, func(k string, raw []byte) error {
		if k == "info" {
			info = raw
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if info != nil {
		v, err := canonjson.Parse(info)
		if err != nil {
			return nil, fmt.Errorf("%s: info: %w", source, err)
		}
		if sd, ok := v.Get("subdir"); ok && sd.Kind() == canonjson.String {
			rd.Subdir = sd.Str()
		}
		if b, ok := v.Get("base_url"); ok && b.Kind() == canonjson.String {
			rd.BaseURL = b.Str()
		}
	}
	return rd, nil
}

// Len returns the number of records.
func (rd *Repodata) Len() int { return rd.file.Len() }

// Signed reports whether the document has a "signatures" member at all.
func (rd *Repodata) Signed() bool { return rd.file.HasSignatures() }

// Record returns the record of a file name, looked up in "packages" for
// .tar.bz2 and "packages.conda" for .conda, or an error matching
// [ErrNotFound].
func (rd *Repodata) Record(fn string) (*Record, error) {
	if _, ok := repodata.SectionFor(fn); !ok {
		return nil, fmt.Errorf("%q: unknown package extension (want .conda or .tar.bz2)", fn)
	}
	rr, ok := rd.file.Record(fn)
	if !ok {
		return nil, fmt.Errorf("%s: no record for %s (%w)", rd.Source, fn, ErrNotFound)
	}
	v, err := rr.Value()
	if err != nil {
		return nil, fmt.Errorf("%s: record %s: %w", rd.Source, fn, err)
	}
	if v.Kind() != canonjson.Object {
		return nil, fmt.Errorf("%s: record %s: not a JSON object", rd.Source, fn)
	}
	r := &Record{Filename: fn, Value: v, file: rd.file, raw: rr}
	_, r.Legacy = v.Get("sig")
	if s, ok := v.Get("size"); ok {
		r.Size, r.HasSize = s.Int64()
	}
	r.SHA256 = strField(v, "sha256")
	r.MD5 = strField(v, "md5")
	return r, nil
}

func strField(v canonjson.Value, key string) string {
	if f, ok := v.Get(key); ok && f.Kind() == canonjson.String {
		return f.Str()
	}
	return ""
}

// Record is one package record as served.
type Record struct {
	Filename string
	// Value is the record exactly as parsed; it is what was verified.
	Value canonjson.Value
	// Legacy reports whether the record has a "sig" key, the mark of a
	// channel indexed for legacy `conda sign`.
	Legacy bool
	// Size, SHA256 and MD5 are the record's fields, from Value ("" and
	// HasSize false when absent).
	Size    int64
	HasSize bool
	SHA256  string
	MD5     string

	file *repodata.File
	raw  repodata.Record
}

// VerifyRecord checks a record against key_mgr's pkg_mgr delegation and
// returns the keys whose signatures counted. The rules, in order:
//
//  1. key_mgr must delegate "pkg_mgr" (a format error otherwise).
//  2. No signature entry for the file name (no "signatures" member, or
//     no entry for it) is a refusal with rule "unsigned".
//  3. The envelope {"signatures": signatures[fn], "signed": record} must
//     be signed, in raw form, by a threshold of distinct pkg_mgr keys
//     (rule "threshold"); entries by other keys, of another form or
//     malformed do not count ([repodata.Verifier.VerifyRecord]).
//  4. The signed record must describe the file asked for: when it has
//     name, version and build, the file name must be
//     name-version-build.conda or .tar.bz2, and when it has a subdir it
//     must be subdir (rule "record-mismatch"). The file name and folder
//     are not signed; this keeps a validly signed record from being
//     served under another package's name or in another subdir.
//
// subdir "" skips the subdir comparison.
func VerifyRecord(r *Record, keyMgr *trust.Metadata, subdir string) ([]trust.PublicKey, error) {
	v, err := repodata.NewVerifier(keyMgr)
	if err != nil {
		return nil, err
	}
	res, err := v.VerifyRecord(r.file, r.raw)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", r.Filename, err)
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	if err := r.checkBinding(subdir); err != nil {
		return nil, err
	}
	return res.Valid, nil
}

func (r *Record) checkBinding(subdir string) error {
	name, version, build := strField(r.Value, "name"), strField(r.Value, "version"), strField(r.Value, "build")
	if name != "" && version != "" && build != "" {
		stem := name + "-" + version + "-" + build
		if r.Filename != stem+".conda" && r.Filename != stem+".tar.bz2" {
			return refusal(r.Filename, RuleRecordMismatch, "the signed record is for %s, not for this file name", stem)
		}
	}
	if sd := strField(r.Value, "subdir"); sd != "" && subdir != "" && sd != subdir {
		return refusal(r.Filename, RuleRecordMismatch, "the signed record is for subdir %s, not %s", sd, subdir)
	}
	return nil
}

// subdirRE and fileRE keep names that become URL and path segments plain.
var (
	subdirRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	fileRE   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+!=-]*\.(conda|tar\.bz2)$`)
)

// CheckSubdir refuses a subdir name that is not a plain folder name.
func CheckSubdir(s string) error {
	if !subdirRE.MatchString(s) || strings.Contains(s, "..") {
		return fmt.Errorf("subdir %q: not a subdir name such as noarch or linux-64", s)
	}
	return nil
}

// CheckFilename refuses a package file name that is not a plain
// NAME-VERSION-BUILD.conda or .tar.bz2 base name.
func CheckFilename(s string) error {
	if !fileRE.MatchString(s) || strings.Contains(s, "..") {
		return fmt.Errorf("file name %q: not a package file name such as numpy-1.26.4-py311h0_0.conda", s)
	}
	return nil
}

// Repodata fetches and indexes <channel>/<subdir>/repodata.json, trying
// repodata.json.zst first as conda does. Both the compressed and the
// decompressed size are capped by Limits.MaxRepodataSize. A .zst that
// exists but cannot be decoded is an error, not a reason to fall back.
// The repodata's info.subdir, when present, must be subdir.
func (c *Client) Repodata(ctx context.Context, channelURL, subdir string) (*Repodata, error) {
	if err := CheckSubdir(subdir); err != nil {
		return nil, err
	}
	norm, err := NormalizeURL(channelURL)
	if err != nil {
		return nil, err
	}
	lim := c.Limits.withDefaults()
	u := joinURL(norm, subdir, "repodata.json.zst")
	data, err := c.fetchZst(ctx, u, lim.MaxRepodataSize)
	if errors.Is(err, ErrNotFound) {
		u = joinURL(norm, subdir, "repodata.json")
		data, err = readAllLimited(ctx, c.fetcher(), u, lim.MaxRepodataSize)
	}
	if err != nil {
		return nil, err
	}
	rd, err := ParseRepodata(data, u)
	if err != nil {
		return nil, err
	}
	if rd.Subdir != "" && rd.Subdir != subdir {
		return nil, fmt.Errorf("%s: info.subdir is %q, not %q", u, rd.Subdir, subdir)
	}
	return rd, nil
}

func (c *Client) fetchZst(ctx context.Context, u string, limit int64) ([]byte, error) {
	rc, err := c.fetcher().Fetch(ctx, u)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dec, err := zstd.NewReader(limitBody(rc, limit, u), zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(uint64(limit)), zstd.WithDecoderMaxWindow(128<<20))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	data, err := io.ReadAll(limitBody(dec, limit, u))
	if err != nil {
		return nil, fetchErr(u, err)
	}
	return data, nil
}

// artifactURL returns where a package is downloaded from: info.base_url
// (CEP 15, resolved against the repodata URL) + file name when the
// repodata has one, else the subdir URL + file name.
func artifactURL(channel, subdir, fn string, rd *Repodata) (string, error) {
	if rd == nil || rd.BaseURL == "" {
		return joinURL(channel, subdir, fn), nil
	}
	ref, err := url.Parse(rd.BaseURL)
	if err != nil {
		return "", fmt.Errorf("%s: info.base_url: %w", rd.Source, err)
	}
	src, err := url.Parse(rd.Source)
	if err != nil {
		return "", err
	}
	b := src.ResolveReference(ref)
	switch strings.ToLower(b.Scheme) {
	case "http", "https", "file":
	default:
		return "", fmt.Errorf("%s: info.base_url %q: unsupported scheme", rd.Source, rd.BaseURL)
	}
	s := b.String()
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s + url.PathEscape(fn), nil
}

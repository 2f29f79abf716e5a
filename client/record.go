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
		data = []byte(`{"packages": {}, "packages.conda": {}}`)
	}
	f, err := repodata.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	rd := &Repodata{Source: source, file: f}
	rd.Subdir, rd.BaseURL = f.Info()
	return rd, nil
}

// File returns the parsed document.
func (rd *Repodata) File() *repodata.File { return rd.file }

// Len returns the number of records.
func (rd *Repodata) Len() int { return rd.file.Len() }

// Signed reports whether the document has a "signatures" member at all.
func (rd *Repodata) Signed() bool { return rd.file.HasSignatures() }

// Record returns the record of a file name as served, unverified, looked
// up in "packages" for .tar.bz2 and "packages.conda" for .conda. No record
// is a refusal with rule not-listed.
func (rd *Repodata) Record(fn string) (*Record, error) {
	rr, ok := rd.file.Record(fn)
	if !ok {
		return nil, refusal(fn, trust.RuleNotListed, "%s has no record for it: nothing vouches for this file", rd.Source)
	}
	v, err := rr.Value()
	if err != nil {
		return nil, fmt.Errorf("%s: record %s: %w", rd.Source, fn, err)
	}
	return recordOf(fn, v), nil
}

func strField(v canonjson.Value, key string) string {
	if f, ok := v.Get(key); ok && f.Kind() == canonjson.String {
		return f.Str()
	}
	return ""
}

// Record is one package record as served (or, in a [FetchResult] of a
// content-trust channel, as verified).
type Record struct {
	Filename string
	// Value is the record exactly as parsed.
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
}

func recordOf(fn string, v canonjson.Value) *Record {
	r := &Record{Filename: fn, Value: v}
	_, r.Legacy = v.Get("sig")
	if s, ok := v.Get("size"); ok {
		r.Size, r.HasSize = s.Int64()
	}
	r.SHA256 = strField(v, "sha256")
	r.MD5 = strField(v, "md5")
	return r
}

// VerifyPackageRecord verifies the record of package file fn in rd
// against the channel's trust, with the rules of
// [repodata.Verifier.VerifyPackageRecord] (listed, signed, bound to fn and
// subdir, checkable).
func (s *State) VerifyPackageRecord(rd *Repodata, subdir, fn string) (*repodata.Package, error) {
	v, err := s.Verifier()
	if err != nil {
		return nil, err
	}
	return v.VerifyPackageRecord(rd.file, subdir, fn)
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

// artifactURL returns where a package is downloaded from: the subdir URL
// + file name, or, when the repodata has an info.base_url (CEP 15), that
// folder + file name if [repodata.ResolveBaseURL] accepts it.
func artifactURL(channel, subdir, fn string, rd *Repodata) (string, error) {
	if rd == nil || rd.BaseURL == "" {
		return joinURL(channel, subdir, fn), nil
	}
	base, err := repodata.ResolveBaseURL(channel, rd.Source, rd.BaseURL)
	if err != nil {
		return "", fmt.Errorf("%s: %w", rd.Source, err)
	}
	return base + url.PathEscape(fn), nil
}

package repodata

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/trust"
)

// Package is a package record that passed [Verifier.VerifyPackageRecord]:
// the value that was verified and what the package's bytes must be.
type Package struct {
	Record Result // the record's verification: status, rule, keys
	// Value is the record exactly as parsed and verified.
	Value canonjson.Value
	// Expect is what the package file's bytes must match, taken from Value.
	Expect Expect
}

// ArtifactResult describes a package file checked against its record.
type ArtifactResult struct {
	Record Result // the record's signature verification
	Size   int64  // bytes read from the file
	SHA256 string // of the file, lowercase hex
	MD5    string // of the file, lowercase hex; empty when the record has no md5
}

// VerifyPackageRecord finds and verifies the record of a package file
// before anything is downloaded or read. The rules, in order; each refusal
// is a *trust.VerificationError (matching trust.ErrVerification) naming
// its rule:
//
//  1. Listed (trust.RuleNotListed): filename ends in .conda or .tar.bz2
//     and f has a record of that name in the section conda looks it up
//     in ("packages.conda" for .conda, "packages" for .tar.bz2). A record
//     of that name in the other section is refused with
//     trust.RuleRecordMismatch, as [Verifier.Verify] refuses it.
//  2. Signed (trust.RuleUnsigned, trust.RuleThreshold): at least the
//     threshold of distinct pkg_mgr keys signed the record's canonical
//     bytes.
//  3. Bound (trust.RuleRecordMismatch, see [CheckBinding]): the record's
//     name-version-build plus the extension is filename, and its subdir,
//     where present, is subdir ("" takes f's info.subdir; with neither,
//     no subdir is compared).
//  4. Checkable (trust.RuleArtifactHash): the record has a non-negative
//     integer "size" and a 64-hex "sha256" (and, if it has one, a 32-hex
//     "md5").
//
// The record is read once, from a private copy: the signature, the
// binding and [Package.Expect] all come from the same parsed value. Other
// errors are malformed repodata.
func (v *Verifier) VerifyPackageRecord(f *File, subdir, filename string) (*Package, error) {
	if subdir == "" {
		subdir, _ = f.Info()
	}
	sec, ok := SectionFor(filename)
	if !ok {
		return nil, &trust.VerificationError{Role: filename, Rule: trust.RuleNotListed,
			Detail: "not a conda package name: conda packages end in .conda or .tar.bz2"}
	}
	rec, ok := f.Lookup(sec, filename)
	if !ok {
		other := Packages
		if sec == Packages {
			other = PackagesConda
		}
		if _, there := f.Lookup(other, filename); there {
			return nil, &trust.VerificationError{Role: filename, Rule: trust.RuleRecordMismatch,
				Detail: fmt.Sprintf("its record is filed in %q, where a %s file does not belong (conda looks in %q): a record moved between sections", other, extOf(filename), sec)}
		}
		return nil, &trust.VerificationError{Role: filename, Rule: trust.RuleNotListed,
			Detail: fmt.Sprintf("no record in the repodata's %q: nothing vouches for this file", sec)}
	}
	b := &recordBuf{}
	res, err := v.verifyRecord(f, rec, subdir, b)
	if err != nil {
		return nil, err
	}
	// The value whose canonical bytes were verified: canonical JSON
	// parses back to the same canonical bytes.
	val, err := canonjson.ParseUnique(b.canon)
	if err != nil {
		return nil, fmt.Errorf("repodata: record %s: %w", rec.Filename, err)
	}
	p := &Package{Record: res, Value: val}
	if err := res.Err(); err != nil {
		return p, err
	}
	if p.Expect, err = ExpectFrom(filename, val); err != nil {
		return p, err
	}
	return p, nil
}

// VerifyPackage checks a package file against repodata f, as conda should
// before it installs the file (content-trust spec §13.3): the rules of
// [Verifier.VerifyPackageRecord], then
//
//  5. Bytes (trust.RuleArtifactHash): body, read to its end (at most one
//     byte past the signed size), has the record's size, SHA-256 and,
//     where the record has one, MD5.
//
// It stops at the first failure. Errors that are not refusals are
// malformed repodata or failures to read body.
func (v *Verifier) VerifyPackage(f *File, subdir, filename string, body io.Reader) (*ArtifactResult, error) {
	p, err := v.VerifyPackageRecord(f, subdir, filename)
	if p == nil {
		return nil, err
	}
	out := &ArtifactResult{Record: p.Record}
	if err != nil {
		return out, err
	}
	c := p.Expect.NewCheck()
	_, err = io.Copy(c, io.LimitReader(body, p.Expect.Size+1))
	if err != nil && !isRefusal(err) {
		return out, fmt.Errorf("reading %s: %w", filename, err)
	}
	out.Size, out.SHA256, out.MD5 = c.n, c.SHA256(), c.MD5()
	if err != nil {
		return out, err
	}
	return out, c.Verify()
}

func isRefusal(err error) bool {
	_, ok := err.(*trust.VerificationError)
	return ok
}

// Expect is what a package file's bytes must be: the size and digests of
// its record. It is the one place where package bytes are hashed and
// compared: [Verifier.VerifyPackage], the client's download and its
// environment audit all go through it.
type Expect struct {
	Filename string
	Size     int64  // -1 when unknown (only for an unsigned record accepted by waiver)
	SHA256   []byte // nil when unknown (idem)
	MD5      []byte // nil when the record has no md5
}

// ExpectFrom reads a verified record's "size", "sha256" and "md5". A
// record that lacks a usable size or sha256 is refused (rule
// trust.RuleArtifactHash): its bytes cannot be checked.
func ExpectFrom(filename string, rec canonjson.Value) (Expect, error) {
	e, err := ExpectFromUnsigned(filename, rec)
	if err != nil {
		return e, err
	}
	if e.Size < 0 {
		sizeV, ok := rec.Get("size")
		return e, e.fail("the signed record has no usable \"size\" (found %s), so the file cannot be checked", describe(sizeV, ok))
	}
	if e.SHA256 == nil {
		return e, e.fail("the signed record has no \"sha256\", so the file cannot be checked")
	}
	return e, nil
}

// ExpectFromUnsigned is [ExpectFrom] for a record accepted without a
// signature by an explicit waiver: a missing size or sha256 is left
// unknown (Size -1, SHA256 nil) instead of refused. Fields that are present
// must still be well formed.
func ExpectFromUnsigned(filename string, rec canonjson.Value) (Expect, error) {
	e := Expect{Filename: filename, Size: -1}
	if sizeV, ok := rec.Get("size"); ok {
		n, okInt := sizeV.Int64()
		if !okInt || n < 0 {
			return e, e.fail("the record's \"size\" is not a non-negative integer (found %s)", describe(sizeV, true))
		}
		e.Size = n
	}
	var err error
	if e.SHA256, err = digestField(rec, "sha256", sha256.Size); err != nil {
		return e, e.fail("%v", err)
	}
	if e.MD5, err = digestField(rec, "md5", md5.Size); err != nil {
		return e, e.fail("%v", err)
	}
	return e, nil
}

func (e Expect) fail(format string, args ...any) error {
	return &trust.VerificationError{Role: e.Filename, Rule: trust.RuleArtifactHash, Detail: fmt.Sprintf(format, args...)}
}

// Matches compares digests and a size recorded elsewhere (an installed
// package's conda-meta record) with e: sha256 and md5 where both sides
// have them, at least one of them compared, and the size when both have
// it. sizeRecorded is -1 when unknown. Refusals have rule
// trust.RuleArtifactHash.
func (e Expect) Matches(sha256Hex, md5Hex string, sizeRecorded int64) error {
	compared := 0
	for _, h := range []struct {
		name string
		got  string
		want []byte
	}{{"sha256", sha256Hex, e.SHA256}, {"md5", md5Hex, e.MD5}} {
		if h.got == "" || h.want == nil {
			continue
		}
		if !strings.EqualFold(h.got, hex.EncodeToString(h.want)) {
			return e.fail("the recorded %s is %s, the signed record says %x", h.name, h.got, h.want)
		}
		compared++
	}
	if compared == 0 {
		return e.fail("no sha256 or md5 in common with the signed record to compare")
	}
	if sizeRecorded >= 0 && e.Size >= 0 && sizeRecorded != e.Size {
		return e.fail("the recorded size is %d, the signed record says %d", sizeRecorded, e.Size)
	}
	return nil
}

// NewCheck returns a writer that hashes what is written to it; its
// [ByteCheck.Verify] compares the result with e. Writing more than e.Size
// bytes fails at once with a refusal, so a copy into it stops there.
func (e Expect) NewCheck() *ByteCheck {
	c := &ByteCheck{e: e, sha: sha256.New()}
	c.w = c.sha
	if e.MD5 != nil {
		c.md5 = md5.New()
		c.w = io.MultiWriter(c.sha, c.md5)
	}
	return c
}

// ByteCheck hashes a package's bytes as they stream by; see
// [Expect.NewCheck].
type ByteCheck struct {
	e   Expect
	n   int64
	sha hash.Hash
	md5 hash.Hash
	w   io.Writer
}

// Write hashes p. It refuses (rule trust.RuleArtifactHash) a write that
// would take the total past the expected size.
func (c *ByteCheck) Write(p []byte) (int, error) {
	if c.e.Size >= 0 && c.n+int64(len(p)) > c.e.Size {
		c.n += int64(len(p))
		return 0, c.e.fail("more than the %d bytes the record gives", c.e.Size)
	}
	c.n += int64(len(p))
	return c.w.Write(p)
}

// Size returns the number of bytes written.
func (c *ByteCheck) Size() int64 { return c.n }

// SHA256 returns the hex SHA-256 of the bytes written.
func (c *ByteCheck) SHA256() string { return hex.EncodeToString(c.sha.Sum(nil)) }

// MD5 returns the hex MD5 of the bytes written, "" when the record has no
// md5.
func (c *ByteCheck) MD5() string {
	if c.md5 == nil {
		return ""
	}
	return hex.EncodeToString(c.md5.Sum(nil))
}

// Verify compares what was written with the record: size, then sha256,
// then md5, each where the record gives it. Refusals have rule
// trust.RuleArtifactHash.
func (c *ByteCheck) Verify() error {
	e := c.e
	if e.Size >= 0 && c.n != e.Size {
		more := ""
		if c.n > e.Size {
			more = " or more"
		}
		return e.fail("file size %d%s bytes differs from the record's %d", c.n, more, e.Size)
	}
	if e.SHA256 != nil {
		if got := c.sha.Sum(nil); !bytes.Equal(got, e.SHA256) {
			return e.fail("sha256 %x differs from the record's %x", got, e.SHA256)
		}
	}
	if e.MD5 != nil {
		if got := c.md5.Sum(nil); !bytes.Equal(got, e.MD5) {
			return e.fail("md5 %x differs from the record's %x", got, e.MD5)
		}
	}
	return nil
}

// digestField decodes a hex digest field of a record: nil when absent, an
// error when present and not hex of the right length.
func digestField(rec canonjson.Value, name string, size int) ([]byte, error) {
	v, ok := rec.Get(name)
	if !ok {
		return nil, nil
	}
	s := v.Str()
	b, err := hex.DecodeString(strings.ToLower(s))
	if v.Kind() != canonjson.String || err != nil || len(b) != size {
		return nil, fmt.Errorf("the record's %q is not %d hex characters (found %s)", name, 2*size, describe(v, true))
	}
	return b, nil
}

func describe(v canonjson.Value, ok bool) string {
	if !ok {
		return "nothing"
	}
	switch v.Kind() {
	case canonjson.String:
		return fmt.Sprintf("%q", v.Str())
	case canonjson.Number:
		return v.NumberText()
	}
	return v.Kind().String()
}

// Installed is what an environment's conda-meta/*.json record says about
// an installed package; "" and -1 mean not recorded.
type Installed struct {
	Name, Version, Build string
	SHA256, MD5          string
	Size                 int64
}

// CheckInstalled compares an installed package's conda-meta record with
// its verified record: name, version and build must be equal where
// recorded (rule trust.RuleRecordMismatch), then the digests and size as
// [Expect.Matches] compares them (rule trust.RuleArtifactHash).
func (p *Package) CheckInstalled(in Installed) error {
	for _, f := range []struct{ name, got string }{{"name", in.Name}, {"version", in.Version}, {"build", in.Build}} {
		want := ""
		if v, ok := p.Value.Get(f.name); ok && v.Kind() == canonjson.String {
			want = v.Str()
		}
		if f.got != "" && f.got != want {
			return &trust.VerificationError{Role: p.Record.Filename, Rule: trust.RuleRecordMismatch,
				Detail: fmt.Sprintf("installed %s is %q, the signed record says %q", f.name, f.got, want)}
		}
	}
	return p.Expect.Matches(in.SHA256, in.MD5, in.Size)
}

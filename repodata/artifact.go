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


// ArtifactResult describes a package file checked against its record.
type ArtifactResult struct {
	Record Result // the record's signature verification
	Size   int64  // bytes read from the file
	SHA256 string // of the file, lowercase hex
	MD5    string // of the file, lowercase hex; empty when the record has no md5
}

// VerifyArtifact checks a package file against repodata f, as conda should
// before it installs the file (content-trust spec §13.3): it finds the
// record of filename (the file's base name) in the section its extension
// implies, requires that record to be trusted, then reads the file from r
// to the end and requires its size, SHA-256 and, when the record has one,
// MD5 to equal the signed record's. It stops at the first failure.
//
// Every refusal is a *trust.VerificationError (matching
// trust.ErrVerification) whose rule tells them apart: [RuleNotListed],
// trust.RuleUnsigned, trust.RuleThreshold, or trust.RuleArtifactHash for a
// size or digest mismatch and for a signed record without a usable size or
// sha256. Other errors are malformed repodata or failures to read r.
func (v *Verifier) VerifyArtifact(f *File, filename string, r io.Reader) (*ArtifactResult, error) {
	sec, ok := SectionFor(filename)
	if !ok {
		return nil, &trust.VerificationError{Role: filename, Rule: RuleNotListed,
			Detail: "not a conda package name: conda packages end in .conda or .tar.bz2"}
	}
	rec, ok := f.Lookup(sec, filename)
	if !ok {
		return nil, &trust.VerificationError{Role: filename, Rule: RuleNotListed,
			Detail: fmt.Sprintf("no record in the repodata's %q: nothing vouches for this file", sec)}
	}
	res, err := v.VerifyRecord(f, rec)
	if err != nil {
		return nil, err
	}
	out := &ArtifactResult{Record: res}
	if err := res.Err(); err != nil {
		return out, err
	}
	// The record verified; read the expected values from the same parsed
	// value that was canonicalized and verified.
	val, err := f.parseRecord(rec)
	if err != nil {
		return out, err
	}
	fail := func(format string, args ...any) error {
		return &trust.VerificationError{Role: filename, Rule: trust.RuleArtifactHash, Detail: fmt.Sprintf(format, args...)}
	}
	sizeV, ok := val.Get("size")
	wantSize, okInt := sizeV.Int64()
	if !ok || !okInt || wantSize < 0 {
		return out, fail("the signed record has no usable \"size\" (found %s), so the file cannot be checked", describe(sizeV, ok))
	}
	wantSHA, err := digestField(val, "sha256", sha256.Size, true)
	if err != nil {
		return out, fail("%v", err)
	}
	wantMD5, err := digestField(val, "md5", md5.Size, false)
	if err != nil {
		return out, fail("%v", err)
	}
	hs := sha256.New()
	var hm hash.Hash
	w := io.Writer(hs)
	if wantMD5 != nil {
		hm = md5.New()
		w = io.MultiWriter(hs, hm)
	}
	// Read at most one byte more than the record allows: a longer file is
	// refused without reading all of it.
	n, err := io.Copy(w, io.LimitReader(r, wantSize+1))
	out.Size = n
	if err != nil {
		return out, fmt.Errorf("reading %s: %w", filename, err)
	}
	if n != wantSize {
		more := ""
		if n > wantSize {
			more = " or more"
		}
		return out, fail("file size %d%s bytes differs from the signed record's %d", n, more, wantSize)
	}
	gotSHA := hs.Sum(nil)
	out.SHA256 = hex.EncodeToString(gotSHA)
	if !bytes.Equal(gotSHA, wantSHA) {
		return out, fail("sha256 %s differs from the signed record's %s", out.SHA256, hex.EncodeToString(wantSHA))
	}
	if hm != nil {
		gotMD5 := hm.Sum(nil)
		out.MD5 = hex.EncodeToString(gotMD5)
		if !bytes.Equal(gotMD5, wantMD5) {
			return out, fail("md5 %s differs from the signed record's %s", out.MD5, hex.EncodeToString(wantMD5))
		}
	}
	return out, nil
}

// digestField decodes a hex digest field of a record. A missing optional
// field gives nil; a present one must be valid hex of the right length.
func digestField(rec canonjson.Value, name string, size int, required bool) ([]byte, error) {
	v, ok := rec.Get(name)
	if !ok {
		if required {
			return nil, fmt.Errorf("the signed record has no %q, so the file cannot be checked", name)
		}
		return nil, nil
	}
	s := v.Str()
	b, err := hex.DecodeString(strings.ToLower(s))
	if v.Kind() != canonjson.String || err != nil || len(b) != size {
		return nil, fmt.Errorf("the signed record's %q is not %d hex characters (found %s)", name, 2*size, describe(v, true))
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

package repodata

// Incremental verification: reusing the results of Verifier.Previous for
// records whose bytes did not change. See the package documentation
// ("Re-verifying with a previous report") for why byte identity is enough.

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/condatrust/condatrust/trust"
)

// verifyBasis is what a Report was verified under, and a digest of what
// each record was, so that a later Verify can take it as Previous.
type verifyBasis struct {
	pkgMgr  trust.Delegation // the Verifier's delegation (keys copied)
	subdir  string           // the effective subdir
	digests [][32]byte       // with Keep: per record, its recordDigest
}

// recordDigestDomain separates record digests from every other SHA-256
// this module computes (the signature cache keys among them).
const recordDigestDomain = "condatrust repodata verified-record v1\x00"

// What a record's signatures are, in its digest: the file has no
// "signatures" member at all, it has one without an entry for the record,
// or it has the entry whose bytes follow. The first two give unsigned
// results with different reasons.
const (
	sigsNone byte = iota // no "signatures" member
	sigsNoEntry
	sigsEntry
)

// previousMatch is a usable Verifier.Previous: the report, and for every
// record of the file being verified the index of its namesake (same
// section and file name) among the report's results, or -1.
type previousMatch struct {
	rep *Report
	idx []int32
}

// usePrevious records in rep what it is verified under and, if
// v.Previous was made under the same, matches the records of f with its
// results. It returns nil (and says why in rep) when Previous is not to
// be used.
func (v *Verifier) usePrevious(rep *Report, f *File, subdir string) *previousMatch {
	rep.basis = verifyBasis{
		pkgMgr: trust.Delegation{Keys: slices.Clone(v.pkgMgr.Keys), Threshold: v.pkgMgr.Threshold},
		subdir: subdir,
	}
	if v.Keep {
		rep.basis.digests = make([][32]byte, len(f.records))
	}
	p := v.Previous
	if p == nil {
		return nil
	}
	switch {
	case p.basis.digests == nil || p.kept == nil:
		rep.PreviousIgnored = "the previous report was made without Verifier.Keep"
	case p.basis.pkgMgr.Threshold != v.pkgMgr.Threshold || !slices.Equal(p.basis.pkgMgr.Keys, v.pkgMgr.Keys):
		rep.PreviousIgnored = fmt.Sprintf("the previous report was made under another pkg_mgr delegation (%d keys, threshold %d; now %d keys, threshold %d, or other keys)",
			len(p.basis.pkgMgr.Keys), p.basis.pkgMgr.Threshold, len(v.pkgMgr.Keys), v.pkgMgr.Threshold)
	case p.basis.subdir != subdir:
		rep.PreviousIgnored = fmt.Sprintf("the previous report was made for subdir %q, this is %q", p.basis.subdir, subdir)
	case len(p.basis.digests) != len(p.Results):
		rep.PreviousIgnored = "the previous report is incomplete"
	}
	if rep.PreviousIgnored != "" {
		return nil
	}
	return &previousMatch{rep: p, idx: matchResults(f, p.Results)}
}

// matchResults returns, for every record of f, the index of the result
// with the same section and file name in prev (the results of another
// file, in its record order: "packages" then "packages.conda", each sorted
// by file name), or -1. It reads only the results, never that file.
func matchResults(f *File, prev []Result) []int32 {
	idx := make([]int32, len(f.records))
	pn := 0
	for pn < len(prev) && prev[pn].Section == Packages {
		pn++
	}
	for s, sec := range []Section{Packages, PackagesConda} {
		a, b := f.section(sec), prev[:pn]
		base, pbase := 0, 0
		if s == 1 {
			base, b, pbase = f.nPkgs, prev[pn:], pn
		}
		k := 0
		for i := range a {
			for k < len(b) && b[k].Filename < a[i].Filename {
				k++
			}
			if k < len(b) && b[k].Filename == a[i].Filename && b[k].Section == sec {
				idx[base+i] = int32(pbase + k)
			} else {
				idx[base+i] = -1
			}
		}
	}
	return idx
}

// copyRecord copies record r and its signatures entry e (hasEntry false
// when it has none) out of f into b.rec, and returns the copies and their
// digest: SHA-256 over a domain prefix, the record's bytes, whether and
// how it has signatures, and the entry's bytes, each variable-length part
// preceded by its length (8 bytes, big-endian). The digest is of the very
// bytes returned, which are what is then verified (if it is not reused):
// a file rewritten in place meanwhile changes neither.
func (b *recordBuf) copyRecord(f *File, r Record, e sigEntry, hasEntry bool) (raw, sig []byte, d [32]byte) {
	var n [8]byte
	b.rec = append(b.rec[:0], recordDigestDomain...)
	binary.BigEndian.PutUint64(n[:], uint64(len(r.Raw)))
	b.rec = append(b.rec, n[:]...)
	lo := len(b.rec)
	b.rec = append(b.rec, r.Raw...)
	raw = b.rec[lo:len(b.rec):len(b.rec)]
	switch {
	case !f.hasSigs:
		b.rec = append(b.rec, sigsNone)
	case !hasEntry:
		b.rec = append(b.rec, sigsNoEntry)
	default:
		b.rec = append(b.rec, sigsEntry)
		binary.BigEndian.PutUint64(n[:], uint64(len(e.raw)))
		b.rec = append(b.rec, n[:]...)
		lo = len(b.rec)
		b.rec = append(b.rec, e.raw...)
		sig = b.rec[lo:len(b.rec):len(b.rec)]
	}
	if testHookRecordRead != nil {
		testHookRecordRead()
	}
	return raw, sig, sha256.Sum256(b.rec)
}

// verifyAt verifies record i of f into rep: taken from Previous when its
// digest equals its namesake's there, verified in full otherwise.
func (v *Verifier) verifyAt(f *File, i int, subdir string, b *recordBuf, rep *Report, prev *previousMatch) error {
	r := f.records[i]
	var res Result
	var err error
	if rep.basis.digests == nil && prev == nil {
		// No digest wanted: the plain path.
		res, err = v.verifyRecord(f, r, subdir, b)
	} else {
		var e sigEntry
		var hasEntry bool
		if f.hasSigs {
			e, hasEntry = f.signaturesOf(r.Filename)
		}
		var d [32]byte
		r.Raw, e.raw, d = b.copyRecord(f, r, e, hasEntry)
		if rep.basis.digests != nil {
			rep.basis.digests[i] = d
		}
		if prev != nil {
			if j := prev.idx[i]; j >= 0 && prev.rep.basis.digests[j] == d {
				rep.Results[i] = prev.rep.Results[j]
				if rep.kept != nil {
					rep.kept[i] = prev.rep.kept[j]
				}
				b.reused++
				return nil
			}
		}
		res, err = v.verifyCopied(f, r, e, hasEntry, subdir, b)
	}
	if err != nil {
		return err
	}
	rep.Results[i] = res
	if v.Keep && res.Status == Trusted {
		rep.kept[i] = b.keep(res)
	}
	return nil
}

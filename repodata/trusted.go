package repodata

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
)

// WriteTrusted writes to w a repodata document holding only the records
// rep marks Trusted, each with its signatures, and every other top-level
// member of f unchanged (info, repodata_version, removed, ...). It returns
// the number of records written. rep must come from Verifier.Verify(f).
//
// The Verifier must have had [Verifier.Keep] set: each record is written
// from the canonical bytes that were verified, retained in rep, never
// from f's bytes again (a mapped file may have been rewritten since).
// Its signatures are those that counted towards the threshold (distinct
// keys the key_mgr authorizes, each verified over those bytes), written
// as raw entries {"signature": hex}; entries by other keys, malformed
// ones and ones that did not verify are left out, and so are the entries
// of every record not written. Untrusted and unsigned records are not
// written.
//
// The output is the sorted compact JSON conda-index writes: keys sorted
// at every level, no whitespace, no trailing newline. It has the record
// sections f has ("packages" and/or "packages.conda", possibly empty) and
// always a "signatures" object. Verified again with a Verifier for the
// same key_mgr (and the same Subdir), every record of it is trusted. The
// top-level members other than records and signatures are not signed;
// they are parsed from f again and written in canonical form, and an
// error is returned if f no longer holds valid JSON there.
//
// On an error, part of the document may have been written to w: write to
// a temporary file and rename it only on success.
func WriteTrusted(w io.Writer, f *File, rep *Report) (int, error) {
	if rep == nil || rep.file != f {
		return 0, errors.New("repodata: WriteTrusted needs the report of Verifier.Verify for the same file")
	}
	if rep.kept == nil {
		return 0, errors.New("repodata: WriteTrusted needs a report of a Verifier with Keep set: the verified bytes of trusted records were not retained")
	}
	type topKey struct {
		key string
		m   *member
	}
	keys := []topKey{{key: "signatures"}}
	for i := range f.top {
		keys = append(keys, topKey{key: f.top[i].key, m: &f.top[i]})
	}
	if f.hasPkgs {
		keys = append(keys, topKey{key: string(Packages)})
	}
	if f.hasConda {
		keys = append(keys, topKey{key: string(PackagesConda)})
	}
	slices.SortFunc(keys, func(a, b topKey) int { return compareStrings(a.key, b.key) })

	bw := bufio.NewWriterSize(w, 1<<20)
	var buf []byte
	written := 0
	bw.WriteByte('{')
	for i, k := range keys {
		bw.Write(appendMemberKey(buf[:0], k.key, 1, i == 0, true))
		var err error
		switch {
		case k.m != nil:
			if buf, err = f.appendTopMember(buf[:0], k.m, true); err == nil {
				_, err = bw.Write(buf)
			}
		case k.key == "signatures":
			err = rep.writeTrustedSignatures(bw, f)
		default:
			var n int
			n, err = rep.writeTrustedSection(bw, f, Section(k.key))
			written += n
		}
		if err != nil {
			return 0, err
		}
	}
	bw.WriteByte('}')
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	return written, nil
}

// writeTrustedSection writes the object of section sec holding the kept
// records, and returns how many it holds.
func (rep *Report) writeTrustedSection(w *bufio.Writer, f *File, sec Section) (int, error) {
	lo, hi := 0, f.nPkgs
	if sec == PackagesConda {
		lo, hi = f.nPkgs, len(f.records)
	}
	n := 0
	var buf []byte
	w.WriteByte('{')
	for i := lo; i < hi; i++ {
		k := &rep.kept[i]
		if k.compact == nil {
			continue
		}
		buf = appendMemberKey(buf[:0], f.records[i].Filename, 2, n == 0, true)
		w.Write(buf)
		if _, err := w.Write(k.compact); err != nil {
			return n, err
		}
		n++
	}
	return n, w.WriteByte('}')
}

// writeTrustedSignatures writes the "signatures" object: one entry per
// kept record, sorted by file name across both sections.
func (rep *Report) writeTrustedSignatures(w *bufio.Writer, f *File) error {
	var idx []int
	for i := range rep.kept {
		if rep.kept[i].compact != nil {
			idx = append(idx, i)
		}
	}
	// Each section is sorted by file name; merge the two.
	slices.SortStableFunc(idx, func(a, b int) int { return compareStrings(f.records[a].Filename, f.records[b].Filename) })
	var buf []byte
	w.WriteByte('{')
	for n, i := range idx {
		fn := f.records[i].Filename
		if n > 0 && f.records[idx[n-1]].Filename == fn {
			// The binding keeps a file name in one section only; a second
			// would need a second signatures entry under the same name.
			return fmt.Errorf("repodata: %s is trusted in both record sections", fn)
		}
		buf = appendMemberKey(buf[:0], fn, 2, n == 0, true)
		buf = appendSigEntry(buf, rep.kept[i].keys, rep.kept[i].sigs, true)
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return w.WriteByte('}')
}

package repodata

import (
	"fmt"
	"strings"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/trust"
)

// RuleNotListed is trust.RuleNotListed, kept here for callers of this
// package.
const RuleNotListed = trust.RuleNotListed

// CheckBinding checks that a record describes the file it is filed under.
// File names, sections and folders are not signed, so a validly signed
// record could otherwise be served under another package's name. The
// rules, in order (each a *trust.VerificationError with rule
// trust.RuleRecordMismatch):
//
//  1. filename ends in .conda or .tar.bz2 and sec is the section that
//     extension belongs in: .tar.bz2 in "packages", .conda in
//     "packages.conda".
//  2. The record has string fields "name", "version" and "build", and
//     name-version-build plus the extension is filename.
//  3. When the record has a "subdir" and subdir is not empty, they are
//     equal.
//
// subdir is the folder the record is served from ("" when unknown). It
// reads only the members named in bindingFields.
func CheckBinding(sec Section, filename, subdir string, rec canonjson.Value) error {
	fail := func(format string, args ...any) error {
		return &trust.VerificationError{Role: filename, Rule: trust.RuleRecordMismatch, Detail: fmt.Sprintf(format, args...)}
	}
	want, ok := SectionFor(filename)
	if !ok {
		return fail("not a conda package file name: conda packages end in .conda or .tar.bz2")
	}
	if sec != want {
		return fail("the record is filed in %q, but a %s file belongs in %q", sec, extOf(filename), want)
	}
	var parts [3]string
	for i, k := range []string{"name", "version", "build"} {
		v, ok := rec.Get(k)
		if !ok || v.Kind() != canonjson.String || v.Str() == "" {
			return fail("the signed record has no %q string, so it cannot be bound to a file name", k)
		}
		parts[i] = v.Str()
	}
	stem := parts[0] + "-" + parts[1] + "-" + parts[2]
	if stem+extOf(filename) != filename {
		return fail("the signed record is for %s%s, not for this file name", stem, extOf(filename))
	}
	if subdir != "" {
		if v, ok := rec.Get("subdir"); ok {
			if v.Kind() != canonjson.String {
				return fail("the signed record's \"subdir\" is not a string")
			}
			if v.Str() != subdir {
				return fail("the signed record is for subdir %s, not %s", v.Str(), subdir)
			}
		}
	}
	return nil
}

func extOf(filename string) string {
	if strings.HasSuffix(filename, ".tar.bz2") {
		return ".tar.bz2"
	}
	if strings.HasSuffix(filename, ".conda") {
		return ".conda"
	}
	return ""
}

// bindingFields are the members of a record that CheckBinding reads.
var bindingFields = [...]string{"name", "version", "build", "subdir"}

// bindingValue returns an object of the members of the record whose
// canonical bytes are canon that CheckBinding reads, parsed, so that the
// binding is checked without building the whole record (CheckBinding
// gives the same answer for it as for the whole record).
func bindingValue(canon []byte) (canonjson.Value, error) {
	m := make(map[string]canonjson.Value, len(bindingFields))
	err := canonjson.ForEachMember(canon, func(key string, raw []byte) error {
		for _, k := range bindingFields {
			if key == k {
				v, err := canonjson.ParseUnique(raw)
				if err != nil {
					return err
				}
				m[k] = v
				break
			}
		}
		return nil
	})
	if err != nil {
		return canonjson.Value{}, err
	}
	return canonjson.NewObject(m)
}

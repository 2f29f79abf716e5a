package repodata

import (
	"bytes"
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
// subdir is the folder the record is served from ("" when unknown).
func CheckBinding(sec Section, filename, subdir string, rec canonjson.Value) error {
	return checkBinding(sec, filename, subdir, rec.Get)
}

// checkBinding is CheckBinding with the record's members looked up by
// get. It reads only the members named in bindingFields.
func checkBinding(sec Section, filename, subdir string, get func(string) (canonjson.Value, bool)) error {
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
	for i, k := range bindingFields[:3] {
		v, ok := get(k)
		if !ok || v.Kind() != canonjson.String || v.Str() == "" {
			return fail("the signed record has no %q string, so it cannot be bound to a file name", k)
		}
		parts[i] = v.Str()
	}
	if !isStem(strings.TrimSuffix(filename, extOf(filename)), parts) {
		stem := parts[0] + "-" + parts[1] + "-" + parts[2]
		return fail("the signed record is for %s%s, not for this file name", stem, extOf(filename))
	}
	if subdir != "" {
		if v, ok := get("subdir"); ok {
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

// isStem reports whether stem is name-version-build, without building it.
func isStem(stem string, parts [3]string) bool {
	for i, p := range parts {
		if i > 0 {
			var ok bool
			if stem, ok = strings.CutPrefix(stem, "-"); !ok {
				return false
			}
		}
		var ok bool
		if stem, ok = strings.CutPrefix(stem, p); !ok {
			return false
		}
	}
	return stem == ""
}

// bindingFields are the members of a record that CheckBinding reads.
var bindingFields = [...]string{"name", "version", "build", "subdir"}

// bindingMembers holds the members of a record that CheckBinding reads,
// parsed from the record's canonical bytes by readBindingMembers.
type bindingMembers struct {
	val  [len(bindingFields)]canonjson.Value
	have [len(bindingFields)]bool
}

func (m *bindingMembers) get(key string) (canonjson.Value, bool) {
	for i, k := range bindingFields {
		if k == key {
			return m.val[i], m.have[i]
		}
	}
	return canonjson.Value{}, false
}

// readBindingMembers reads the members of a record that CheckBinding
// reads from the record's canonical bytes, so that the binding is checked
// without building the whole record: checkBinding with m.get gives the
// same answer as CheckBinding with the whole record.
//
// It finds them by the canonical layout (see render.go): a member of the
// record itself, and nothing nested, starts a line with exactly two
// spaces and a quote, and its value runs to the start of the next such
// line (less the comma) or to the closing "\n}".
func (m *bindingMembers) read(canon []byte) error {
	*m = bindingMembers{}
	const start = "\n  \""
	i := bytes.Index(canon, []byte(start))
	for i >= 0 {
		member := canon[i+len(start)-1:] // from the key's opening quote
		next := bytes.Index(member, []byte(start))
		val := member
		if next >= 0 {
			val = bytes.TrimSuffix(member[:next], []byte(","))
			i += len(start) - 1 + next
		} else {
			val = bytes.TrimSuffix(member, []byte("\n}"))
			i = -1
		}
		for f, k := range bindingFields {
			// The key as canonical JSON writes it: these need no escapes.
			if len(val) > len(k)+4 && val[0] == '"' && string(val[1:1+len(k)]) == k && string(val[1+len(k):4+len(k)]) == `": ` {
				v, err := canonjson.ParseUnique(val[4+len(k):])
				if err != nil {
					return err
				}
				m.val[f], m.have[f] = v, true
				break
			}
		}
	}
	return nil
}

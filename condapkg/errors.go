package condapkg

import (
	"errors"
	"strings"
)

// ErrNotPackage is returned, wrapped with the file name, for a file name that
// ends neither in ".conda" nor in ".tar.bz2", or that has no stem before the
// extension. It is not a [*FormatError]: nothing was read.
var ErrNotPackage = errors.New("not a conda package file name (want <name>-<version>-<build>.conda or .tar.bz2)")

// Error kinds carried by [FormatError.Kind]. Branch on them with [errors.Is]:
//
//	var fe *condapkg.FormatError
//	if errors.As(err, &fe) && errors.Is(err, condapkg.ErrUnsafePath) { ... fe.Member ... }
var (
	// ErrUnsafePath: an absolute member name, a ".." component, a member
	// below a link, or a link whose target is absolute or resolves outside
	// the package.
	ErrUnsafePath = errors.New("unsafe path")
	// ErrTooLarge: a member or the decompressed stream exceeds a limit of
	// [ReadOptions] or [ExtractOptions] (a decompression bomb, or a limit set
	// too low for a legitimate package).
	ErrTooLarge = errors.New("too large")
	// ErrDuplicate: two members with the same name (after normalisation) in
	// the zip, in a tar, or across the two tars of a .conda, an info/ file
	// in a .conda's pkg- member (extracted into the same info/ folder as
	// the info- member), or a name that is both a file and a directory.
	// Tools would disagree on which one counts.
	ErrDuplicate = errors.New("duplicate member")
	// ErrMissing: a required member is absent (info/index.json, or the
	// info-<stem>.tar.zst member of a .conda).
	ErrMissing = errors.New("missing member")
	// ErrMalformed: the zip, tar, zstd or bzip2 data is corrupt or truncated,
	// a member has the wrong type (e.g. info/index.json is a symlink), a
	// .conda member is not STORED, or info/index.json is not a JSON object.
	ErrMalformed = errors.New("malformed archive")
)

// FormatError reports a package archive that cannot be read safely. Package
// is the archive's file name; Member names the offending entry as written in
// the archive (not normalised), empty when the problem is the archive as a
// whole. For a .conda, a member inside a component tarball is written
// "<component>:<path>", e.g. "info-foo-1.0-0.tar.zst:info/index.json".
//
// Kind is one of [ErrUnsafePath], [ErrTooLarge], [ErrDuplicate], [ErrMissing]
// or [ErrMalformed]; Err, when not nil, is the underlying cause (a bzip2,
// zstd, tar or zip error). Both are reachable with [errors.Is] and [errors.As].
type FormatError struct {
	Package string
	Member  string
	Kind    error
	Reason  string
	Err     error
}

// Error returns "condapkg: <package>: <member>: <reason>[: <cause>]".
func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("condapkg: ")
	b.WriteString(e.Package)
	if e.Member != "" {
		b.WriteString(": ")
		b.WriteString(e.Member)
	}
	b.WriteString(": ")
	if e.Reason != "" {
		b.WriteString(e.Reason)
	} else if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the kind and the cause, for [errors.Is] and [errors.As].
func (e *FormatError) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

package envaudit

import (
	"errors"
	"fmt"
)

// ErrMalformed is matched by every [*FormatError]: a paths.json or
// conda-meta record that cannot be read as one. It never matches an I/O
// error, and it is not a verdict on the installed files: a package whose
// description is malformed cannot be checked.
var ErrMalformed = errors.New("malformed package description")

// FormatError reports a malformed info/paths.json or conda-meta record.
// It matches [ErrMalformed].
type FormatError struct {
	File   string // "info/paths.json", or the conda-meta file's path
	Field  string // a JSON path such as "paths[3]", "" for the whole file
	Reason string
}

func (e *FormatError) Error() string {
	if e.Field == "" {
		return e.File + ": " + e.Reason
	}
	return e.File + ": " + e.Field + ": " + e.Reason
}

// Unwrap makes the error match [ErrMalformed].
func (e *FormatError) Unwrap() error { return ErrMalformed }

func formatErr(file, field, format string, args ...any) error {
	return &FormatError{File: file, Field: field, Reason: fmt.Sprintf(format, args...)}
}

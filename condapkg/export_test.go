package condapkg

import (
	"compress/bzip2"
	"io"
	"testing"
)

// UseStdBzip2 makes reads decode .tar.bz2 with compress/bzip2, the
// decoder used before issue 14, until the test ends.
func UseStdBzip2(t testing.TB) {
	old := newBzip2Reader
	newBzip2Reader = func(r io.Reader) (io.Reader, func()) { return bzip2.NewReader(r), func() {} }
	t.Cleanup(func() { newBzip2Reader = old })
}

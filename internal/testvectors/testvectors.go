// Package testvectors locates the shared known-answer data (../shared/vectors
// next to the repository) for tests, and skips a test with a clear message
// when it is absent, so that `go test ./...` passes on a plain clone.
package testvectors

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// EnvVar overrides the location of the shared vectors.
const EnvVar = "CONDATRUST_VECTORS"

// Dir returns the vectors directory, or skips t when it cannot be found.
func Dir(t testing.TB) string {
	t.Helper()
	d, ok := Find()
	if !ok {
		t.Skipf("shared vectors not found (looked in $%s and ../shared/vectors beside the repository); skipping known-answer test", EnvVar)
	}
	return d
}

// Path returns the file or folder rel inside the vectors directory, skipping
// t when the vectors or that entry are absent.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Dir(t), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared vector %s not present: %v", rel, err)
	}
	return p
}

// Read returns the bytes of the vector file rel, skipping t when absent.
func Read(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Find returns the vectors directory and whether it exists.
func Find() (string, bool) {
	if d := os.Getenv(EnvVar); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d, true
		}
		return d, false
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", false
	}
	// file is <repo>/internal/testvectors/testvectors.go
	repo := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	d := filepath.Join(filepath.Dir(repo), "shared", "vectors")
	if st, err := os.Stat(d); err == nil && st.IsDir() {
		return d, true
	}
	return d, false
}

// Local returns the path of rel inside the repository's own testdata/
// folder, which holds the generated vectors the project may keep (see
// testdata/vectors/README.md).
func Local(rel string) string {
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	return filepath.Join(repo, "testdata", filepath.FromSlash(rel))
}

// ReadLocal returns the bytes of a file under the repository's testdata/.
func ReadLocal(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(Local(rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

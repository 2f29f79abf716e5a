package attest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/trust"
)

// FuzzParseSidecar: any input is either a list of well-formed bundles or a
// format error, never a panic or another error class. Seeded with the
// real sidecar when the shared vectors are present.
func FuzzParseSidecar(f *testing.F) {
	if d, ok := testvectors.Find(); ok {
		if b, err := os.ReadFile(filepath.Join(d, filepath.FromSlash(sidecarVector))); err == nil {
			f.Add(b)
			f.Add(b[1 : len(b)-2]) // the bare bundle
		}
	}
	for _, s := range []string{"[]", "{}", "[{}]", "[1]", `[{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}]`, " \n", "null", `{"mediaType":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		bundles, err := ParseSidecar(data)
		if err != nil {
			var fe *trust.FormatError
			if !errors.As(err, &fe) || bundles != nil {
				t.Fatalf("not a format error: %T %v", err, err)
			}
			return
		}
		if len(bundles) > MaxBundles {
			t.Fatalf("%d bundles", len(bundles))
		}
		for _, b := range bundles {
			if b == nil || b.Bundle == nil {
				t.Fatal("nil bundle accepted")
			}
		}
	})
}

package attest

import (
	"strings"
	"testing"

	"github.com/condatrust/condatrust/internal/leafcheck"
)

// attest is a leaf: the verification path, the client and the proxy do
// not depend on it or on sigstore-go (only cmd wires it in).
func TestLeaf(t *testing.T) {
	leafcheck.Check(t, []string{"canonjson", "trust", "repodata", "client", "proxy"}, func(dep string) bool {
		return dep == leafcheck.Module+"attest" || strings.Contains(dep, "sigstore")
	})
}

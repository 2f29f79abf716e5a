//go:build pkcs11 && cgo

package pkcs11key_test

import (
	"strings"
	"testing"

	"github.com/condatrust/condatrust/internal/leafcheck"
)

// TestLeaf: the verification path, the indexer, the client and the proxy
// never link the PKCS#11 signer or its cgo binding; only cmd/conda-trust
// (built with -tags pkcs11) does.
func TestLeaf(t *testing.T) {
	leafcheck.Check(t, []string{"canonjson", "trust", "repodata", "index", "client", "proxy", "signer"}, func(dep string) bool {
		return strings.Contains(dep, "miekg/pkcs11") || strings.HasSuffix(dep, "/signer/pkcs11key")
	})
}

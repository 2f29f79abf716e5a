package attesttest_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/condatrust/condatrust/attest"
	"github.com/condatrust/condatrust/attest/attesttest"
)

// A sidecar made here verifies through the public API (bundle parsing,
// trusted_root.json, SCT-free certificates aside).
func TestSidecarVerifies(t *testing.T) {
	s, err := attesttest.New()
	if err != nil {
		t.Fatal(err)
	}
	trustedRoot, err := s.TrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("package bytes"))
	sha := hex.EncodeToString(sum[:])
	sidecar, err := s.Sidecar("ci@example.com", "https://issuer.example.com", attesttest.Statement("demo-1.0-0.conda", sha, "https://conda.example.com/main"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := attest.NewVerifier(trustedRoot, attest.Policy{Identity: "ci@example.com", Issuer: "https://issuer.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(sidecar, attest.Subject{Name: "demo-1.0-0.conda", SHA256: sha})
	if err != nil {
		t.Fatal(err)
	}
	if res.Identity != "ci@example.com" || res.TimeSource != "tlog" {
		t.Errorf("%+v", res)
	}
}

package trust_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/trust"
)

// libmamba's OpenPGP known answer: our canonical bytes of its root, the
// digest formula and the signature agree with its test constants.
func TestMambaPGPVector(t *testing.T) {
	var v struct {
		Canonical string `json:"canonical_signed_utf8"`
		Digest    string `json:"expected_digest_hex"`
		OH        string `json:"other_headers_hex"`
		Pub       string `json:"public_key_hex"`
		Sig       string `json:"signature_hex"`
	}
	if err := json.Unmarshal(testvectors.Read(t, "mamba/upstream/pgp-verify-vector.json"), &v); err != nil {
		t.Fatal(err)
	}
	root := loadMeta(t, testvectors.Path(t, "mamba/upstream/1.sv0.6.root.json"), trust.RoleRoot)
	if string(root.Envelope.SignedBytes()) != v.Canonical {
		t.Fatal("canonical bytes of 1.sv0.6.root.json differ from libmamba's")
	}
	oh, _ := hex.DecodeString(v.OH)
	d := trust.OpenPGPDigest([]byte(v.Canonical), oh)
	if hex.EncodeToString(d[:]) != v.Digest {
		t.Fatalf("digest %x, want %s", d, v.Digest)
	}
	pub, _ := hex.DecodeString(v.Pub)
	sig, _ := hex.DecodeString(v.Sig)
	if !ed25519.Verify(pub, d[:], sig) {
		t.Fatal("signature does not verify over the digest")
	}
}

// conda's key_mgr (as kept by conda-content-trust's tests) verifies
// against conda's test roots.
func TestCCTKeyMgrVerify(t *testing.T) {
	at := trust.Options{At: mustTime("2024-01-01T00:00:00Z")}
	root := loadMeta(t, testvectors.Path(t, "conda/testdata/1.root.json"), trust.RoleRoot)
	km := loadMeta(t, filepath.Join(testvectors.Path(t, "cct/testdata"), "key_mgr_verify.json"), trust.RoleKeyMgr)
	if _, err := trust.VerifyDelegated(root, km, at); err != nil {
		t.Fatal(err)
	}
	bad := loadMeta(t, filepath.Join(testvectors.Path(t, "cct/testdata"), "key_mgr_invalid.json"), trust.RoleKeyMgr)
	if _, err := trust.VerifyDelegated(root, bad, at); err == nil {
		t.Fatal("key_mgr_invalid.json verified")
	}
}

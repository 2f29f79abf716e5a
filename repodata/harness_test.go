package repodata

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/signer"
)

func TestSignHarnessByteExact(t *testing.T) {
	in := testvectors.ReadLocal(t, "vectors/cct/harness_chain/repodata.input.json")
	want := testvectors.ReadLocal(t, "vectors/cct/harness_chain/repodata.signed.json")
	key, err := signer.ReadKeyFile(testvectors.Local("vectors/cct/harness_chain/pkg_mgr.pri"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := Sign(&out, f, SignOptions{Signers: []signer.Signer{key}}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("signed output differs from the reference\n got: %s\nwant: %s", out.Bytes(), want)
	}
	sum := sha256.Sum256(out.Bytes())
	if got := hex.EncodeToString(sum[:]); got != "2165fa929fbad45254c11b338ddd8ff8eb95760c77082d6b2cdd06834a5a2372" {
		t.Errorf("sha256 = %s", got)
	}
}

package repodata

import (
	"bytes"
	"testing"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/signer"
)

// FuzzParse checks the reader against canonjson, the strict reference: a
// document the reader accepts (with every record parsing) must be valid
// JSON, and then signing it must give canonical output that reads back to
// the same records.
func FuzzParse(f *testing.F) {
	for _, rel := range []string{
		"vectors/cct/harness_chain/repodata.input.json",
		"vectors/cct/harness_chain/repodata.signed.json",
		"vectors/derived/chain-known-keys/repodata.json",
		"vectors/derived/chain-synthetic/repo/noarch/repodata.json",
	} {
		f.Add(testvectors.ReadLocal(f, rel))
	}
	f.Add([]byte(`{"packages": {"a": {"x": "\"}\\"}, "a": {}}, "signatures": {"a": 1}}`))
	f.Add([]byte(`{"packages": {"a": {"b": [1, {"c": "]"}]}}, "x": -0, "packages.conda": {}}`))
	key, err := signer.NewKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		withSmallChunks(t, 16)
		sameParse(t, data)
		file, err := Parse(data)
		if err != nil {
			return
		}
		for _, r := range file.Records() {
			if _, err := r.Value(); err != nil {
				return
			}
		}
		if !file.hasPkgs {
			if err := file.checkSignatures(2); err == nil && canonjson.Valid(data) != nil {
				t.Fatalf("reader accepted invalid JSON: %v", canonjson.Valid(data))
			}
			return
		}
		var out bytes.Buffer
		if _, err := Sign(&out, file, SignOptions{Signers: []signer.Signer{key}, Workers: 2}); err != nil {
			return // e.g. the same name in both sections
		}
		if err := canonjson.Valid(data); err != nil {
			t.Fatalf("reader and signer accepted invalid JSON: %v", err)
		}
		canon, err := canonjson.Canonicalize(out.Bytes())
		if err != nil || !bytes.Equal(canon, out.Bytes()) {
			t.Fatalf("signed output is not canonical JSON: %v\n%s", err, out.Bytes())
		}
		again, err := Parse(out.Bytes())
		if err != nil || again.Len() != file.Len() {
			t.Fatalf("signed output does not read back: %v", err)
		}
		for i, r := range again.Records() {
			a, _ := file.Records()[i].Canonical()
			b, err := r.Canonical()
			if err != nil || !bytes.Equal(a, b) || r.Filename != file.Records()[i].Filename {
				t.Fatalf("record %d changed by signing", i)
			}
		}
	})
}

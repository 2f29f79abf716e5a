package repodata

import (
	"bytes"
	"testing"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
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
	// Inputs of the one-verify-path review: not repodata, duplicates at
	// every level, records filed under names or sections they do not
	// describe.
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"packages": {}, "packages": {"a-1-0.tar.bz2": {}}}`))
	f.Add([]byte(`{"packages": {"a-1-0.tar.bz2": {"name": "a"}, "a-1-0.tar.bz2": {"name": "b"}}}`))
	f.Add([]byte(`{"packages": {"a-1-0.tar.bz2": {"name": "a", "name": "b", "version": "1", "build": "0"}}}`))
	f.Add([]byte(`{"packages.conda": {"a-1-0.tar.bz2": {"name": "a", "version": "1", "build": "0"}}}`))
	f.Add([]byte(`{"packages": {"b-3-0.tar.bz2": {"name": "a", "version": "1", "build": "0", "subdir": "noarch"}}, "info": {"subdir": "linux-64"}}`))
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
		// Verification applies the binding: nothing is trusted that is
		// not filed under its own name, section and subdir.
		v := &Verifier{pkgMgr: trust.Delegation{Keys: []trust.PublicKey{key.Public()}, Threshold: 1}, Workers: 2}
		rep, err := v.Verify(again)
		if err != nil {
			t.Fatalf("verifying the signed output: %v", err)
		}
		sd, _ := again.Info()
		for i, res := range rep.Results {
			r := again.Records()[i]
			val, _ := r.Value()
			bound := CheckBinding(r.Section, r.Filename, sd, val) == nil
			if (res.Status == Trusted) != bound || (!bound && res.Rule != trust.RuleRecordMismatch) {
				t.Fatalf("%s: status %s rule %s, binding holds %v", r.Filename, res.Status, res.Rule, bound)
			}
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

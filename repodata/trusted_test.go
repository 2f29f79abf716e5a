package repodata

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// trustedNames lists the section and file name of every trusted record.
func trustedNames(rep *Report) []string {
	var out []string
	for _, r := range rep.Results {
		if r.Status == Trusted {
			out = append(out, string(r.Section)+"/"+r.Filename)
		}
	}
	return out
}

// writeTrusted verifies data with v (Keep set) and returns the trusted
// document and the report.
func writeTrusted(t testing.TB, v *Verifier, data []byte) ([]byte, *Report) {
	t.Helper()
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	v.Keep = true
	rep, err := v.Verify(f)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := WriteTrusted(&out, f, rep)
	if err != nil {
		t.Fatal(err)
	}
	if n != rep.Trusted {
		t.Fatalf("wrote %d records, %d trusted", n, rep.Trusted)
	}
	return out.Bytes(), rep
}

// checkTrustedOutput checks what every output of WriteTrusted must be:
// sorted compact canonical JSON that verifies with v to exactly the
// trusted records of rep, with the record sections of the input, a
// signatures entry for each record and none other, only by keys that
// counted, and the input's other members unchanged. It returns the
// output's own trusted document, which must be the output itself.
func checkTrustedOutput(t testing.TB, v *Verifier, in, out []byte, rep *Report) {
	t.Helper()
	canon, err := canonjson.Canonicalize(out)
	if err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if compact := appendCompact(nil, canon); !bytes.Equal(compact, out) {
		t.Fatalf("output is not sorted compact JSON:\n got %s\nwant %s", out, compact)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	rep2, err := v.Verify(again)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Untrusted != 0 || rep2.Unsigned != 0 || !slices.Equal(trustedNames(rep2), trustedNames(rep)) {
		t.Fatalf("output verifies to %v (%d untrusted, %d unsigned), the input's trusted records are %v",
			trustedNames(rep2), rep2.Untrusted, rep2.Unsigned, trustedNames(rep))
	}
	f, _ := Parse(in)
	if again.hasPkgs != f.hasPkgs || again.hasConda != f.hasConda || !again.hasSigs {
		t.Errorf("sections: packages %v/%v, packages.conda %v/%v, signatures %v",
			again.hasPkgs, f.hasPkgs, again.hasConda, f.hasConda, again.hasSigs)
	}
	if len(again.sigs) != rep2.Trusted {
		t.Errorf("%d signatures entries for %d records", len(again.sigs), rep2.Trusted)
	}
	for i, r := range again.Records() {
		e, _ := again.signaturesOf(r.Filename)
		sv, _ := canonjson.Parse(e.raw)
		sigs, _ := trust.SignatureEntries(sv)
		if len(sigs) != len(rep2.Results[i].Valid) {
			t.Errorf("%s: %d signatures, %d count", r.Filename, len(sigs), len(rep2.Results[i].Valid))
		}
	}
	if len(again.top) != len(f.top) {
		t.Fatalf("%d other members, input has %d", len(again.top), len(f.top))
	}
	for i := range f.top {
		a, _ := canonjson.Canonicalize(f.top[i].raw)
		b, _ := canonjson.Canonicalize(again.top[i].raw)
		if f.top[i].key != again.top[i].key || !bytes.Equal(a, b) {
			t.Errorf("member %s changed: %s -> %s", f.top[i].key, f.top[i].raw, again.top[i].raw)
		}
	}
	// Writing the trusted document of the output gives the output.
	var out2 bytes.Buffer
	v.Keep = true
	if rep2, err = v.Verify(again); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteTrusted(&out2, again, rep2); err != nil || !bytes.Equal(out2.Bytes(), out) {
		t.Fatalf("the trusted document of the output differs from it (%v):\n%s\n%s", err, out2.Bytes(), out)
	}
}

func TestWriteTrusted(t *testing.T) {
	k1, k2, attacker := testKey(t, "pkg_mgr-1"), testKey(t, "pkg_mgr-2"), testKey(t, "attacker")
	in := `{"info":{"subdir":"noarch","base_url":"https://example.com/\u00e9"},"packages":{
"a-1.0-0.tar.bz2":{"build":"0","depends":[],"name":"a","size":1,"version":"1.0","subdir":"noarch"},
"b-2.0-0.tar.bz2":{"build":"0","name":"b","size":2,"version":"2.0"},
"evil-1-0.tar.bz2":{"build":"0","name":"evil","version":"1"},
"m-1-0.tar.bz2":{"build":"0","name":"other","version":"1"},
"u-1-0.tar.bz2":{"build":"0","name":"u","version":"1"}},
"packages.conda":{"c-3.0-0.conda":{"build":"0","name":"c","size":3.50,"version":"3.0"},
"d-1-0.conda":{"build":"0","name":"d","version":"1"}},
"removed":["x-1-0.tar.bz2"],"repodata_version":1,"zz_extra":{"b":[1,2.0],"a":null}}`
	signed := signString(t, in, false, k1, k2, attacker)
	f, _ := Parse([]byte(signed))
	sigsOf := func(fn string) string { e, _ := f.signaturesOf(fn); return string(e.raw) }
	// b: changed after signing. evil: only the attacker's signature.
	// u: no signatures (its entry is filed under a name with no record).
	// m: signed, filed under another package's name. d: k2's signature
	// broken, so only k1's counts. The attacker's signatures on every
	// record never count.
	doc := mustReplace(t, signed, `"size": 2`, `"size": 20`)
	doc = mustReplace(t, doc, `"evil-1-0.tar.bz2": `+sigsOf("evil-1-0.tar.bz2"),
		`"evil-1-0.tar.bz2": {"`+attacker.Public().String()+`": {"signature": "`+sigHex(t, attacker, doc, "evil-1-0.tar.bz2")+`"}}`)
	doc = mustReplace(t, doc, `"u-1-0.tar.bz2": `+sigsOf("u-1-0.tar.bz2"), `"zz-gone-1-0.tar.bz2": `+sigsOf("u-1-0.tar.bz2"))
	var k2sig string
	eachSignature([]byte(sigsOf("d-1-0.conda")), func(key, sig []byte) {
		if string(key) == k2.Public().String() {
			k2sig = string(sig)
		}
	})
	doc = mustReplace(t, doc, k2sig, strings.Repeat("5", 128))
	v := &Verifier{pkgMgr: delegation(1, k1, k2)}
	out, rep := writeTrusted(t, v, []byte(doc))
	want := []string{"packages/a-1.0-0.tar.bz2", "packages.conda/c-3.0-0.conda", "packages.conda/d-1-0.conda"}
	if got := trustedNames(rep); !slices.Equal(got, want) {
		t.Fatalf("trusted %v, want %v", got, want)
	}
	checkTrustedOutput(t, v, []byte(doc), out, rep)
	for _, absent := range []string{"b-2.0-0", "evil-1-0", "m-1-0", "u-1-0", "zz-gone", attacker.Public().String(), strings.Repeat("5", 128)} {
		if strings.Contains(string(out), absent) {
			t.Errorf("output holds %s:\n%s", absent, out)
		}
	}
	for _, present := range []string{`"removed":["x-1-0.tar.bz2"]`, `"repodata_version":1`, `"zz_extra":{"a":null,"b":[1,2.0]}`,
		`"base_url":"https://example.com/\u00e9"`, `"size":3.5`} {
		if !strings.Contains(string(out), present) {
			t.Errorf("output lacks %s:\n%s", present, out)
		}
	}

	// Threshold 2: only records both keys signed, each with both.
	v2 := &Verifier{pkgMgr: delegation(2, k1, k2)}
	// a's signature by k2 filed under another key; m misfiled.
	doc2 := strings.Replace(signed, `"`+k2.Public().String()+`": {
        "signature"`, `"`+strings.Repeat("0", 64)+`": {
        "signature"`, 1)
	out, rep = writeTrusted(t, v2, []byte(doc2))
	if rep.Trusted != 5 || rep.Untrusted != 2 || rep.Results[0].Status != Untrusted {
		t.Fatalf("threshold 2: %s", statuses(rep))
	}
	checkTrustedOutput(t, v2, []byte(doc2), out, rep)
}

// sigHex signs the canonical bytes of record fn of doc with key.
func sigHex(t *testing.T, key signer.Signer, doc, fn string) string {
	t.Helper()
	f, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := f.Record(fn)
	c, err := r.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sig)
}

func TestWriteTrustedNeedsItsReport(t *testing.T) {
	k1 := testKey(t, "pkg_mgr-1")
	data := []byte(signString(t, cacheInput, true, k1))
	f, _ := Parse(data)
	g, _ := Parse(data)
	v := &Verifier{pkgMgr: delegation(1, k1)}
	rep, err := v.Verify(f)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := WriteTrusted(&out, f, rep); err == nil || !strings.Contains(err.Error(), "Keep") {
		t.Errorf("without Keep: %v", err)
	}
	v.Keep = true
	if rep, err = v.Verify(f); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteTrusted(&out, g, rep); err == nil {
		t.Error("a report of another file was accepted")
	}
	if _, err := WriteTrusted(&out, f, nil); err == nil {
		t.Error("a nil report was accepted")
	}
	if out.Len() != 0 {
		t.Errorf("wrote %q before refusing", out.Bytes())
	}
}

// The records written are the bytes that were verified, not the file's
// bytes read again: a file rewritten in place between Verify and
// WriteTrusted does not change the output.
func TestWriteTrustedFromVerifiedBytes(t *testing.T) {
	k1 := testKey(t, "pkg_mgr-1")
	data := []byte(signString(t, cacheInput, false, k1))
	want, _ := writeTrusted(t, &Verifier{pkgMgr: delegation(1, k1)}, bytes.Clone(data))
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{pkgMgr: delegation(1, k1), Keep: true}
	rep, err := v.Verify(f)
	if err != nil || rep.Trusted != 3 {
		t.Fatal(err, statuses(rep))
	}
	i := bytes.Index(data, []byte(`"size": 2`))
	copy(data[i:], `"size": 7`) // same length: every offset stays valid
	var out bytes.Buffer
	if _, err := WriteTrusted(&out, f, rep); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("output changed with the file:\n got %s\nwant %s", out.Bytes(), want)
	}
}

// Real conda-content-trust output: the harness chain's signed repodata
// (sign-artifacts, byte-exact) through its key_mgr, and the reference's
// own signed sample, whose records are filed under names they do not
// describe (so none is trusted, and the output holds no record).
func TestWriteTrustedVectors(t *testing.T) {
	km, err := trust.ParseMetadata(testvectors.ReadLocal(t, "vectors/cct/harness_chain/key_mgr.json"), trust.RoleKeyMgr)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := trust.NewChainFromKeyMgr(km, trust.Options{AllowExpired: true})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(chain)
	if err != nil {
		t.Fatal(err)
	}
	in := testvectors.ReadLocal(t, "vectors/cct/harness_chain/repodata.signed.json")
	out, rep := writeTrusted(t, v, in)
	if rep.Trusted != 2 || rep.Trusted != len(rep.Results) {
		t.Fatalf("harness: %s", statuses(rep))
	}
	checkTrustedOutput(t, v, in, out, rep)
	// The same document as signed, in compact form: the reference's
	// signatures carried over unchanged.
	f, _ := Parse(in)
	var compact bytes.Buffer
	key, err := signer.ReadKeyFile(testvectors.Local("vectors/cct/harness_chain/pkg_mgr.pri"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(&compact, f, SignOptions{Signers: []signer.Signer{key}, Compact: true}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, compact.Bytes()) {
		t.Errorf("trusted document of a fully signed file differs from its compact signed form:\n got %s\nwant %s", out, compact.Bytes())
	}

	up := testvectors.Read(t, "cct/testdata/repodata.json")
	pub, _ := trust.ParsePublicKey("01d90fd731eb6f7c16215d23c23674bda7abf56490a03a10753aae99edce1b82")
	uv := &Verifier{pkgMgr: trust.Delegation{Keys: []trust.PublicKey{pub}, Threshold: 1}}
	out, rep = writeTrusted(t, uv, up)
	if rep.Trusted != 0 {
		t.Fatalf("upstream sample: %s", statuses(rep))
	}
	checkTrustedOutput(t, uv, up, out, rep)
	if !strings.Contains(string(out), `"packages":{}`) || !strings.Contains(string(out), `"signatures":{}`) {
		t.Errorf("upstream sample: %s", out)
	}
}

// FuzzWriteTrusted: verifying any document and writing its trusted
// records never panics, and the output verifies again to exactly those
// records, each trusted, and is its own trusted document.
func FuzzWriteTrusted(f *testing.F) {
	key, err := signer.NewKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	harness, err := signer.ReadKeyFile(testvectors.Local("vectors/cct/harness_chain/pkg_mgr.pri"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(testvectors.ReadLocal(f, "vectors/cct/harness_chain/repodata.signed.json"))
	f.Add(testvectors.ReadLocal(f, "vectors/cct/harness_chain/repodata.input.json"))
	f.Add([]byte(`{"packages.conda":{"a-1-0.conda":{"build":"0","name":"a","version":"1"}},"x":[],"signatures":{"a-1-0.conda":{}}}`))
	// Shapes next to the shortcuts: binding members nested or not strings,
	// a name with escapes; signatures entries repeated, out of order,
	// escaped, upper-case, of another form.
	const k, sig = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	f.Add([]byte(`{"packages":{"a-1-0.tar.bz2":{"build":"0","d":{"name":"a"},"name":"a","subdir":1,"version":"1"},` +
		`"\u00e9-1-0.tar.bz2":{"build":"0","name":"\u00e9","version":["1"]}},"signatures":{` +
		`"a-1-0.tar.bz2":{"` + k + `":{"signature":"` + sig + `"},"` + k + `":{"signature":"` + sig + `"}},` +
		`"\u00e9-1-0.tar.bz2":{"` + strings.ToUpper(k) + `":{"signature":"` + sig + `"},"` + k[:63] + `\u0030":{"signature":"` + sig + `","other_headers":"00"}}}}`))
	for _, in := range []string{cacheInput, tamperInput,
		`{"packages":{"a-1-0.tar.bz2":{"build":"0","name":"a","version":"1"}},"packages.conda":{"a-1-0.tar.bz2":{"build":"0","name":"a","version":"1"}}}`,
	} {
		p, err := Parse([]byte(in))
		if err != nil {
			f.Fatal(err)
		}
		for _, compact := range []bool{false, true} {
			var b bytes.Buffer
			if _, err := Sign(&b, p, SignOptions{Signers: []signer.Signer{key}, Compact: compact}); err != nil {
				f.Fatal(err)
			}
			f.Add(b.Bytes())
			// One record changed after signing.
			f.Add(bytes.Replace(b.Bytes(), []byte(`"0"`), []byte(`"1"`), 1))
		}
	}
	d := trust.Delegation{Keys: []trust.PublicKey{key.Public(), harness.Public()}, Threshold: 1}
	f.Fuzz(func(t *testing.T, data []byte) {
		withSmallChunks(t, 16)
		file, err := Parse(data)
		if err != nil {
			return
		}
		checkShortcuts(t, file)
		v := &Verifier{pkgMgr: d, Workers: 2, Keep: true, Cache: NewMemoryCache(64)}
		rep, err := v.Verify(file)
		if err != nil {
			return
		}
		var out bytes.Buffer
		n, err := WriteTrusted(&out, file, rep)
		if err != nil {
			t.Fatalf("WriteTrusted of a verified document: %v", err)
		}
		if n != rep.Trusted {
			t.Fatalf("wrote %d records, %d trusted", n, rep.Trusted)
		}
		checkTrustedOutput(t, v, data, out.Bytes(), rep)
	})
}

// checkShortcuts checks the verifier's two shortcuts against the long
// way: bindingMembers against the whole record for CheckBinding, and
// rawSignatures against trust.SignatureEntries.
func checkShortcuts(t *testing.T, file *File) {
	for _, r := range file.Records() {
		canon, err := r.Canonical()
		if err != nil {
			continue
		}
		whole, _ := r.Value()
		var part bindingMembers
		if err := part.read(canon); err != nil {
			t.Fatalf("%s: bindingMembers.read: %v", r.Filename, err)
		}
		for i, k := range bindingFields {
			v, ok := whole.Get(k)
			if ok != part.have[i] || (ok && !bytes.Equal(canonjson.Marshal(v), canonjson.Marshal(part.val[i]))) {
				t.Fatalf("%s: member %s: %v %s, read %v %s", r.Filename, k, ok, canonjson.Marshal(v), part.have[i], canonjson.Marshal(part.val[i]))
			}
		}
		for _, sd := range []string{"", "noarch", "linux-64"} {
			a, b := CheckBinding(r.Section, r.Filename, sd, whole), checkBinding(r.Section, r.Filename, sd, part.get)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("%s: binding of the whole record %v, of the members read %v", r.Filename, a, b)
			}
		}
	}
	for _, e := range file.sigs {
		var b recordBuf
		if !b.rawSignatures(e.raw) {
			continue
		}
		sv, err := canonjson.ParseUnique(e.raw)
		if err != nil {
			t.Fatalf("rawSignatures read %s, which does not parse: %v", e.raw, err)
		}
		want, err := trust.SignatureEntries(sv)
		if err != nil || len(want) != len(b.sigs) || (len(want) > 0 && !reflect.DeepEqual(want, b.sigs)) {
			t.Fatalf("rawSignatures of %s:\n got %+v\nwant %+v (%v)", e.raw, b.sigs, want, err)
		}
	}
}

package repodata

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/internal/synth"
	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

func harnessKey(t testing.TB) *signer.Key {
	t.Helper()
	k, err := signer.ReadKeyFile(testvectors.Local("vectors/cct/harness_chain/pkg_mgr.pri"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func signBytes(t testing.TB, in []byte, opts SignOptions) ([]byte, *SignStats) {
	t.Helper()
	f, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	st, err := Sign(&out, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), st
}

func TestSignCompactByteExact(t *testing.T) {
	in := testvectors.ReadLocal(t, "vectors/cct/harness_chain/repodata.input.json")
	want, err := os.ReadFile("testdata/harness.signed.compact.json")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := signBytes(t, in, SignOptions{Signers: []signer.Signer{harnessKey(t)}, Compact: true})
	if !bytes.Equal(got, want) {
		t.Errorf("compact output differs\n got: %s\nwant: %s", got, want)
	}
}

// TestSignLayoutsVerifyAlike signs the harness input in both layouts and
// re-signs each output in the other layout: all four verify, and signing
// is idempotent across layouts.
func TestSignLayoutsVerifyAlike(t *testing.T) {
	in := testvectors.ReadLocal(t, "vectors/cct/harness_chain/repodata.input.json")
	key := harnessKey(t)
	opts := SignOptions{Signers: []signer.Signer{key}}
	indented, _ := signBytes(t, in, opts)
	opts.Compact = true
	compact, _ := signBytes(t, in, opts)
	again, _ := signBytes(t, indented, opts)
	if !bytes.Equal(again, compact) {
		t.Errorf("compact re-sign of the indented output differs from the compact output")
	}
	opts.Compact = false
	back, _ := signBytes(t, compact, opts)
	if !bytes.Equal(back, indented) {
		t.Errorf("indented re-sign of the compact output differs from the indented output")
	}
	d := trust.Delegation{Keys: []trust.PublicKey{key.Public()}, Threshold: 1}
	for name, data := range map[string][]byte{"indented": indented, "compact": compact} {
		f, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := (&Verifier{pkgMgr: d}).Verify(f)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Trusted != 2 || rep.Err(false) != nil {
			t.Errorf("%s: %d trusted, err %v", name, rep.Trusted, rep.Err(false))
		}
	}
}

func TestSignSeveralKeys(t *testing.T) {
	p1, p2 := testKey(t, "pkg_mgr-1"), testKey(t, "pkg_mgr-2")
	out, st := signBytes(t, []byte(tamperInput), SignOptions{Signers: []signer.Signer{p2, p1}})
	if st.Signatures != 2 || st.Signed != 1 || st.Records != 1 {
		t.Errorf("stats %+v", st)
	}
	// Entries sorted by key, whatever the order the keys were given in.
	first, second := p1.Public().String(), p2.Public().String()
	if first > second {
		first, second = second, first
	}
	if i, j := bytes.Index(out, []byte(first)), bytes.Index(out, []byte(second)); i < 0 || j < i {
		t.Errorf("signature entries not sorted by key:\n%s", out)
	}
	d := trust.Delegation{Keys: []trust.PublicKey{p1.Public(), p2.Public()}, Threshold: 2}
	if res := verifyOne(t, string(out), d, "a-1.0-0.tar.bz2"); res.Status != Trusted {
		t.Errorf("2-of-2: %s %s", res.Status, res.Reason)
	}
	if _, err := Sign(&bytes.Buffer{}, mustParse(t, tamperInput), SignOptions{Signers: []signer.Signer{p1, p1}}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("same key twice: %v", err)
	}
	if _, err := Sign(&bytes.Buffer{}, mustParse(t, tamperInput), SignOptions{}); err == nil {
		t.Error("no key: no error")
	}
}

func mustParse(t testing.TB, s string) *File {
	t.Helper()
	f, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestSignKeepsEverything signs a messy input (any layout, unsorted keys,
// unknown fields and top-level members, big numbers, non-ASCII) and checks that the output is the canonical form of the
// parsed input plus signatures, with old signatures discarded.
func TestSignKeepsEverything(t *testing.T) {
	in := `{ "zzz_extra": [1, 2.50, {"b": null, "a": true}],
	"packages.conda": {
		"x-1-0.conda": {"version": "1", "name": "x", "build": "0", "size": 12345678901234567890, "w": 1E5, "summary": "caf\u00e9 ☃ <&> \u2028 😀"},
		"b-1-0.conda": {"name": "b", "build": "0", "version": "1", "depends": []}
	},
	"signatures": {"x-1-0.conda": {"old": {"signature": "00"}}},
	"packages": {},
	"info": {"subdir": "linux-64", "arch": "x86_64"}
}`
	key := harnessKey(t)
	out, st := signBytes(t, []byte(in), SignOptions{Signers: []signer.Signer{key}})
	if st.Records != 2 {
		t.Errorf("records %d, want 2", st.Records)
	}
	// The output is canonical JSON as a whole.
	whole, err := canonjson.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := canonjson.Marshal(whole); !bytes.Equal(got, out) {
		t.Errorf("output is not canonical:\n%s\nvs\n%s", out, got)
	}
	want := `{
  "info": {
    "arch": "x86_64",
    "subdir": "linux-64"
  },
  "packages": {},
  "packages.conda": {
    "b-1-0.conda": {
      "build": "0",
      "depends": [],
      "name": "b",
      "version": "1"
    },
    "x-1-0.conda": {
      "build": "0",
      "name": "x",
      "size": 12345678901234567890,
      "summary": "caf\u00e9 \u2603 <&> \u2028 \ud83d\ude00",
      "version": "1",
      "w": 100000.0
    }
  },
  "signatures": {
    "b-1-0.conda": {
      "f46b5a7caa43640744186564c098955147daa8bac4443887bc64d8bfee3d3569": {
        "signature": "`
	if !bytes.HasPrefix(out, []byte(want)) {
		t.Errorf("output:\n%s\nwant prefix:\n%s", out, want)
	}
	if !bytes.HasSuffix(out, []byte("  },\n  \"zzz_extra\": [\n    1,\n    2.5,\n    {\n      \"a\": true,\n      \"b\": null\n    }\n  ]\n}")) {
		t.Errorf("members after signatures not kept:\n%s", out)
	}
	if bytes.Contains(out, []byte(`"old"`)) {
		t.Error("old signatures kept")
	}
	d := trust.Delegation{Keys: []trust.PublicKey{key.Public()}, Threshold: 1}
	rep, err := (&Verifier{pkgMgr: d}).Verify(mustParse(t, string(out)))
	if err != nil || rep.Err(false) != nil {
		t.Errorf("verify: %v %v", err, rep.Err(false))
	}
}

func TestSignRefuses(t *testing.T) {
	key := harnessKey(t)
	tests := []struct {
		name, in, want string
		malformed      bool
	}{
		{"no packages", `{"packages.conda": {}}`, `"packages"`, true},
		{"not repodata at all", `{}`, `not a repodata.json`, true},
		{"top-level member twice", `{"packages": {}, "info": {}, "info": {"subdir": "noarch"}}`, "info: the top-level member occurs twice", true},
		{"record name twice", `{"packages": {"a-1-0.tar.bz2": {"name": "a"}, "a-1-0.tar.bz2": {"name": "b"}}}`, "packages.a-1-0.tar.bz2: the name occurs twice", true},
		{"key twice in a record", `{"packages": {"a-1-0.tar.bz2": {"name": "a", "name": "b"}}}`, `duplicate object key "name"`, false},
		{"key twice in info", `{"packages": {}, "info": {"subdir": "a", "subdir": "b"}}`, `duplicate object key "subdir"`, false},
		{"record not an object", `{"packages": {"a.tar.bz2": [1]}}`, "a package record is a JSON object", true},
		{"invalid JSON in a record", "{\"packages\": {\n\"a.tar.bz2\": {\"x\": tru}}}", "line 2", false},
		{"lone surrogate in a record", `{"packages": {"a.tar.bz2": {"x": "\ud800"}}}`, "surrogate", false},
		{"NaN in a record", `{"packages": {"a.tar.bz2": {"x": NaN}}}`, "NaN", false},
		{"same name in both sections, different records", `{"packages": {"a.conda": {"x": 1}}, "packages.conda": {"a.conda": {}}}`, "also in", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.in))
			if err == nil {
				_, err = Sign(&bytes.Buffer{}, f, SignOptions{Signers: []signer.Signer{key}})
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
			if errors.Is(err, trust.ErrMalformed) != tc.malformed {
				t.Errorf("errors.Is(ErrMalformed) = %v", !tc.malformed)
			}
			if errors.Is(err, trust.ErrVerification) {
				t.Error("a malformed input is not a verification failure")
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `{"packages": []}`, `{"packages": {"a": }}`, `{"packages": {"a": 1,}}`,
		`{"packages": {}} x`, `{"signatures": 1}`, `{"info": {"a": 01}}`, `{"packages": {"a": {"b": "c}}}`,
		`{"packages": {"\ud800": {}}}`, "{\"packages\": {\"a\xff\": {}}}", `{"packages": {"a": {]}}`,
	} {
		f, err := Parse([]byte(in))
		if err == nil {
			// Structure accepted: the record must then fail to parse.
			for _, r := range f.Records() {
				if _, err = r.Value(); err != nil {
					break
				}
			}
		}
		if err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestWriteSignedInPlace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "repodata.json")
	in := testvectors.ReadLocal(t, "vectors/cct/harness_chain/repodata.input.json")
	if err := os.WriteFile(path, in, 0o640); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteSigned(path, f, SignOptions{Signers: []signer.Signer{harnessKey(t)}}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := testvectors.ReadLocal(t, "vectors/cct/harness_chain/repodata.signed.json"); !bytes.Equal(got, want) {
		t.Errorf("in-place output differs")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 kept", st.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
}

// synthRepodata returns a synthetic repodata holding the records of
// synth.Record for the given indexes; those in salted are patched.
func synthRepodata(indexes []int, salted map[int]bool) []byte {
	var b strings.Builder
	b.WriteString(`{"info":{"subdir":"linux-64"},"packages":{`)
	var conda []string
	first := true
	for _, i := range indexes {
		salt := ""
		if salted[i] {
			salt = "patched"
		}
		fn, _ := synth.Record(i, "")
		entry := fmt.Sprintf("%q:%s", fn, recordWithSalt(i, salt))
		if strings.HasSuffix(fn, ".conda") {
			conda = append(conda, entry)
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(entry)
	}
	b.WriteString(`},"packages.conda":{` + strings.Join(conda, ",") + `},"removed":[],"repodata_version":1}`)
	return []byte(b.String())
}

// recordWithSalt is synth.Record's JSON with a changed depends list when
// salt is set, under the unsalted file name (a patched record).
func recordWithSalt(i int, salt string) []byte {
	_, rec := synth.Record(i, "")
	if salt == "" {
		return rec
	}
	return bytes.Replace(rec, []byte(`"depends":[`), []byte(`"depends":["`+salt+`",`), 1)
}

func TestSignIncremental(t *testing.T) {
	key := harnessKey(t)
	other := testKey(t, "pkg_mgr-1")
	const n = 1500
	var old, cur []int
	for i := range n {
		if i%97 != 5 { // some records are new
			old = append(old, i)
		}
		if i%50 != 7 { // some records are removed
			cur = append(cur, i)
		}
	}
	cur = append(cur, n, n+1, n+2) // added
	patched := map[int]bool{10: true, 11: true, 1000: true}
	oldIn, newIn := synthRepodata(old, nil), synthRepodata(cur, patched)

	for _, tc := range []struct {
		name                 string
		prevCompact, compact bool
		prevKeys, keys       []signer.Signer
		wantRejected         string
		wantReuse            bool
	}{
		{"indented", false, false, []signer.Signer{key}, []signer.Signer{key}, "", true},
		{"compact", true, true, []signer.Signer{key}, []signer.Signer{key}, "", true},
		{"compact previous, indented output", true, false, []signer.Signer{key}, []signer.Signer{key}, "", true},
		{"indented previous, compact output", false, true, []signer.Signer{key}, []signer.Signer{key}, "", true},
		{"a key added", false, false, []signer.Signer{key}, []signer.Signer{key, other}, "", false},
		{"a key dropped", false, false, []signer.Signer{key, other}, []signer.Signer{key}, "", true},
		{"previous signed by another key", false, false, []signer.Signer{other}, []signer.Signer{key}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prevOut, _ := signBytes(t, oldIn, SignOptions{Signers: tc.prevKeys, Compact: tc.prevCompact})
			full, _ := signBytes(t, newIn, SignOptions{Signers: tc.keys, Compact: tc.compact})
			prev := mustParse(t, string(prevOut))
			inc, st := signBytes(t, newIn, SignOptions{Signers: tc.keys, Compact: tc.compact, Previous: prev})
			if !bytes.Equal(inc, full) {
				t.Fatalf("incremental output differs from a full re-sign (stats %+v)", st)
			}
			if st.PreviousRejected != tc.wantRejected {
				t.Errorf("rejected %q, want %q", st.PreviousRejected, tc.wantRejected)
			}
			if tc.wantReuse {
				// Unchanged: in both, not patched.
				want := 0
				for _, i := range cur {
					if i < n && i%97 != 5 && !patched[i] {
						want++
					}
				}
				if st.Reused != want || st.Signed != len(cur)-want || st.Sampled != sampleSize {
					t.Errorf("reused %d signed %d sampled %d, want %d %d %d", st.Reused, st.Signed, st.Sampled, want, len(cur)-want, sampleSize)
				}
			} else if st.Reused != 0 {
				t.Errorf("reused %d, want 0", st.Reused)
			}
		})
	}
}

// TestSignIncrementalRejectsForeignPrevious checks that a previous file
// in a layout this signer does not write, or with bad signatures, is
// caught by the sample and not used.
func TestSignIncrementalRejectsForeignPrevious(t *testing.T) {
	key := harnessKey(t)
	var idx []int
	for i := range 500 {
		idx = append(idx, i)
	}
	in := synthRepodata(idx, nil)
	full, _ := signBytes(t, in, SignOptions{Signers: []signer.Signer{key}})
	// Keys in reverse order: same values, same canonical bytes, but not the
	// layout of the output.
	foreign := bytes.ReplaceAll(full, []byte("\n      \"build\": "), []byte("\n      \"build\":  "))
	foreign = bytes.Replace(foreign, []byte(`"build_number": 0,`), []byte(`"build_number": 0.0,`), -1)
	// Every signature with its first hex digit changed: well formed, but
	// none verifies.
	badSigs := regexp.MustCompile(`"signature": "[0-9a-f]`).ReplaceAllFunc(full, func(m []byte) []byte {
		m = bytes.Clone(m)
		m[len(m)-1] = "1032547698badcfe"[strings.IndexByte("0123456789abcdef", m[len(m)-1])]
		return m
	})
	for name, prevData := range map[string][]byte{"foreign layout": foreign, "bad signatures": badSigs} {
		t.Run(name, func(t *testing.T) {
			prev := mustParse(t, string(prevData))
			out, st := signBytes(t, in, SignOptions{Signers: []signer.Signer{key}, Previous: prev})
			if !bytes.Equal(out, full) {
				t.Error("output differs from a full sign")
			}
			if st.PreviousRejected == "" || st.Reused != 0 {
				t.Errorf("previous file used: %+v", st)
			}
		})
	}
	if _, err := Sign(&bytes.Buffer{}, mustParse(t, string(in)), SignOptions{Signers: []signer.Signer{key}}); err != nil {
		t.Fatal(err)
	}
	f := mustParse(t, string(in))
	if _, err := Sign(&bytes.Buffer{}, f, SignOptions{Signers: []signer.Signer{key}, Previous: f}); err == nil {
		t.Error("Previous == f accepted")
	}
	// The same bytes parsed twice, with a stale signature: not used.
	stale := strings.Replace(string(full), `"build_number": 1,`, `"build_number": 2,`, 1)
	out, st := signBytes(t, []byte(stale), SignOptions{Signers: []signer.Signer{key}, Previous: mustParse(t, stale)})
	if st.PreviousRejected == "" || st.Reused != 0 {
		t.Errorf("the input as its own previous file was used: %+v", st)
	}
	if want, _ := signBytes(t, []byte(stale), SignOptions{Signers: []signer.Signer{key}}); !bytes.Equal(out, want) {
		t.Error("output differs from a full sign")
	}
}

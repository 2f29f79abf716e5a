package canonjson

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/internal/synth"
	"github.com/condatrust/condatrust/internal/testvectors"
)

type vectorFile struct {
	Vectors []struct {
		Name            string `json:"name"`
		InputJSON       string `json:"input_json"`
		Canonical       string `json:"canonical"`
		CanonicalSHA256 string `json:"canonical_sha256"`
	} `json:"vectors"`
}

func TestCanonicalVectors(t *testing.T) {
	raw, err := os.ReadFile(testvectors.Local("vectors/cct/canonical_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.Vectors) != 16 {
		t.Fatalf("found %d vectors, want 16", len(vf.Vectors))
	}
	for _, c := range vf.Vectors {
		t.Run(c.Name, func(t *testing.T) {
			got, err := Canonicalize([]byte(c.InputJSON))
			if err != nil {
				t.Fatalf("Canonicalize: %v", err)
			}
			if string(got) != c.Canonical {
				t.Fatalf("got\n%s\nwant\n%s", got, c.Canonical)
			}
			sum := sha256.Sum256(got)
			if hex.EncodeToString(sum[:]) != c.CanonicalSHA256 {
				t.Fatalf("sha256 %x, want %s", sum, c.CanonicalSHA256)
			}
			// Canonical output is a fixed point.
			again, err := Canonicalize(got)
			if err != nil || !bytes.Equal(again, got) {
				t.Fatalf("canonical form is not stable: %v\n%s", err, again)
			}
		})
	}
}

// TestSignableRecords checks real-world records against the exact bytes the
// reference signed (non-ASCII, DEL, U+2028, HTML characters, floats, an
// integer above 2^63, millisecond timestamps).
func TestSignableRecords(t *testing.T) {
	raw, err := os.ReadFile(testvectors.Local("vectors/derived/chain-known-keys/repodata.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, section := range []string{"packages", "packages.conda"} {
		recs, _ := doc.Get(section)
		for _, m := range recs.Members() {
			fn := string(m.Key)
			want, err := os.ReadFile(testvectors.Local("vectors/derived/chain-known-keys/canonical/" + fn + ".signable"))
			if err != nil {
				t.Fatal(err)
			}
			if got := Marshal(m.Value); !bytes.Equal(got, want) {
				t.Errorf("%s: got\n%s\nwant\n%s", fn, got, want)
			}
			n++
		}
	}
	if n != 5 {
		t.Fatalf("checked %d records, want 5", n)
	}
	// libmamba's raw-UTF-8 rendering must NOT be what we produce.
	mamba, _ := os.ReadFile(testvectors.Local("vectors/derived/chain-known-keys/canonical/test-package-0.3-utf8_0.tar.bz2.signable.mamba-utf8"))
	recs, _ := doc.Get("packages")
	rec, _ := recs.Get("test-package-0.3-utf8_0.tar.bz2")
	if bytes.Equal(Marshal(rec), mamba) {
		t.Fatal("canonical bytes equal libmamba's raw UTF-8 form")
	}
}

func TestPyFloat(t *testing.T) {
	cases := map[string]string{
		"1.0": "1.0", "-0.0": "-0.0", "0.1": "0.1", "1e-5": "1e-05", "1e16": "1e+16",
		"1.5e300": "1.5e+300", "123456789012345680000.0": "1.2345678901234568e+20", "1E5": "100000.0",
		"0.0001": "0.0001", "0.00001": "1e-05", "1234567890123456.0": "1234567890123456.0",
		"12345678901234567.0": "1.2345678901234568e+16", "1.7976931348623157e308": "1.7976931348623157e+308",
		"5e-324": "5e-324", "2.5e-07": "2.5e-07", "1e-400": "0.0", "100": "100", "-0": "0",
		"12345678901234567890": "12345678901234567890", "0.000123": "0.000123",
	}
	for in, want := range cases {
		got, err := Canonicalize([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if string(got) != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}

func TestStrictness(t *testing.T) {
	cases := []struct{ in, msg string }{
		{`{"a": NaN}`, "NaN and Infinity"},
		{`[Infinity]`, "NaN and Infinity"},
		{`[-Infinity]`, "NaN and Infinity"},
		{`[1e400]`, "overflows a double"},
		{`"\ud800"`, "lone high surrogate"},
		{`"\udc00"`, "lone low surrogate"},
		{`"\ud800\u0041"`, "lone high surrogate"},
		{"\"\xff\"", "invalid UTF-8"},
		{"\"\xed\xa0\x80\"", "invalid UTF-8"},
		{"\"a\nb\"", "control character"},
		{`{"a":1,}`, "expected an object key"},
		{`[1,]`, "expected a value"},
		{`01`, "after the JSON value"},
		{`1.`, "after '.'"},
		{`1e`, "exponent"},
		{`{"a" 1}`, "expected ':'"},
		{`{"a":1} x`, "after the JSON value"},
		{`"abc`, "unterminated string"},
		{`"\x"`, "invalid escape"},
		{`"\u12"`, `invalid \u escape`},
		{``, "unexpected end of input"},
		{`tru`, "expected a value"},
		{`{'a':1}`, "object key in double quotes"},
		{strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), "nesting deeper"},
		{strings.Repeat("1", MaxIntegerDigits+1), "digits"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.in))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want *SyntaxError", c.in, err)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Parse(%q) error %q does not mention %q", c.in, err, c.msg)
		}
		if verr := Valid([]byte(c.in)); verr == nil {
			t.Errorf("Valid(%q) = nil, want error", c.in)
		}
	}
}

func TestSyntaxErrorPosition(t *testing.T) {
	_, err := Parse([]byte("{\n  \"a\": 1,\n  \"b\": ?\n}"))
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatal(err)
	}
	if se.Line != 3 || se.Column != 8 || se.Offset != 19 {
		t.Fatalf("position line %d col %d off %d, want 3:8 (19)", se.Line, se.Column, se.Offset)
	}
}

func TestDuplicateKeysLastWins(t *testing.T) {
	v, err := Parse([]byte(`{"b": 1, "a": 2, "b": 3, "a": {"x": 1, "x": [2]}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"a\": {\n    \"x\": [\n      2\n    ]\n  },\n  \"b\": 3\n}"
	if got := string(Marshal(v)); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	b, _ := v.Get("b")
	if b.NumberText() != "3" {
		t.Fatalf("Get(b) = %s, want 3 (the value that was canonicalized)", b.NumberText())
	}
}

func TestBuilders(t *testing.T) {
	obj, err := FromGo(map[string]any{
		"z": []string{"é", "<&>"}, "a": int64(-5), "m": map[string]string{"k": "v"},
		"f": 1.5, "t": true, "n": nil, "u": uint64(1 << 63), "\u2603": "snow",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "a": -5,
  "f": 1.5,
  "m": {
    "k": "v"
  },
  "n": null,
  "t": true,
  "u": 9223372036854775808,
  "z": [
    "\u00e9",
    "<&>"
  ],
  "\u2603": "snow"
}`
	if got := string(Marshal(obj)); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	parsed, err := Parse([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if !parsed.Equal(obj) {
		t.Fatal("parsed canonical form is not Equal to the built value")
	}
	with, err := obj.With("b", NewInt(7))
	if err != nil {
		t.Fatal(err)
	}
	if k := with.Keys(); k[1] != "b" || len(k) != 9 {
		t.Fatalf("With: keys %v", k)
	}
	if _, ok := obj.Get("b"); ok {
		t.Fatal("With modified the original")
	}
	if _, ok := with.Without("b").Get("b"); ok {
		t.Fatal("Without kept the key")
	}
	if _, err := NewString("\xff"); err == nil {
		t.Fatal("NewString accepted invalid UTF-8")
	}
}

func TestAppendIndent(t *testing.T) {
	v, _ := Parse([]byte(`{"a":[1,{"b":2}]}`))
	got := string(AppendIndent([]byte("x: "), v, 2))
	want := "x: {\n      \"a\": [\n        1,\n        {\n          \"b\": 2\n        }\n      ]\n    }"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestForEachMember(t *testing.T) {
	in := []byte(` { "b" : [1, 2] , "a\u00e9": {"x": "y"}, "b": null } `)
	var keys, raws []string
	err := ForEachMember(in, func(k string, raw []byte) error {
		keys = append(keys, k)
		raws = append(raws, string(raw))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, "|") != "b|aé|b" || strings.Join(raws, "|") != `[1, 2]|{"x": "y"}|null` {
		t.Fatalf("keys %q raws %q", keys, raws)
	}
	stop := errors.New("stop")
	if err := ForEachMember(in, func(string, []byte) error { return stop }); err != stop {
		t.Fatalf("callback error not returned: %v", err)
	}
	for _, bad := range []string{`[]`, `{"a":}`, `{"a":1} 2`, `{"a":1`} {
		if err := ForEachMember([]byte(bad), func(string, []byte) error { return nil }); err == nil {
			t.Errorf("ForEachMember(%q) = nil, want error", bad)
		}
	}
}

func FuzzCanonicalize(f *testing.F) {
	raw, _ := os.ReadFile(testvectors.Local("vectors/cct/canonical_vectors.json"))
	var vf vectorFile
	json.Unmarshal(raw, &vf)
	for _, c := range vf.Vectors {
		f.Add([]byte(c.InputJSON))
	}
	_, rec := synth.Record(3, "")
	f.Add(rec)
	f.Add([]byte(`{"a":"\ud83d\ude00\u007f","b":[1e22,-0,0.5]}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Add([]byte(`{"x":[{"b":1,"a":2,"b":3}],"a":{}}`))
	f.Add([]byte(`{"\u0061":1,"a":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		if verr := Valid(data); (err == nil) != (verr == nil) {
			t.Fatalf("Parse error %v but Valid error %v", err, verr)
		}
		// ParseUnique accepts a subset of what Parse accepts, the same
		// value, and refuses the rest only for a duplicate key.
		u, uerr := ParseUnique(data)
		switch {
		case err != nil && uerr == nil:
			t.Fatalf("ParseUnique accepted what Parse refuses (%v)", err)
		case err == nil && uerr == nil && !u.Equal(v):
			t.Fatalf("ParseUnique and Parse disagree on the value")
		case err == nil && uerr != nil && !strings.Contains(uerr.Error(), "duplicate object key"):
			t.Fatalf("ParseUnique refused valid JSON for another reason: %v", uerr)
		}
		if verr := ValidUnique(data); (verr == nil) != (uerr == nil) {
			t.Fatalf("ValidUnique error %v but ParseUnique error %v", verr, uerr)
		}
		if cu, cerr := AppendCanonicalUnique(nil, data); (cerr == nil) != (uerr == nil) || (cerr == nil && !bytes.Equal(cu, Marshal(u))) {
			t.Fatalf("AppendCanonicalUnique (%v) disagrees with ParseUnique (%v)", cerr, uerr)
		}
		if err != nil {
			return
		}
		out := Marshal(v)
		// The direct (no tree) path and the tree path agree, at any level.
		direct, err := AppendCanonical(nil, data)
		if err != nil || !bytes.Equal(direct, out) {
			t.Fatalf("AppendCanonical differs from Marshal(Parse): %v\n%s\n%s", err, direct, out)
		}
		nested, err := AppendCanonicalIndent([]byte("x"), data, 3)
		if err != nil || !bytes.Equal(nested, AppendIndent([]byte("x"), v, 3)) {
			t.Fatalf("AppendCanonicalIndent differs from AppendIndent: %v", err)
		}
		for _, c := range out {
			if c >= 0x80 {
				t.Fatalf("non-ASCII byte in canonical output %q", out)
			}
		}
		v2, err := Parse(out)
		if err != nil {
			t.Fatalf("canonical output does not parse: %v\n%s", err, out)
		}
		if !v2.Equal(v) {
			t.Fatalf("round trip changed the value:\n%s", out)
		}
		if out2 := Marshal(v2); !bytes.Equal(out, out2) {
			t.Fatalf("canonical form not stable:\n%s\n%s", out, out2)
		}
		// The standard library must agree that it is JSON.
		if !json.Valid(data) {
			t.Fatalf("accepted input that encoding/json rejects: %q", data)
		}
	})
}

func BenchmarkCanonicalizeRecord(b *testing.B) {
	recs := benchRecords(b)
	b.ReportAllocs()
	var dst []byte
	for b.Loop() {
		for _, r := range recs {
			var err error
			dst, err = AppendCanonical(dst[:0], r)
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkCanonicalizeRecordParallel(b *testing.B) {
	recs := benchRecords(b)
	b.RunParallel(func(pb *testing.PB) {
		var dst []byte
		for pb.Next() {
			for _, r := range recs {
				dst, _ = AppendCanonical(dst[:0], r)
			}
		}
	})
}

func TestTruncatedInputs(t *testing.T) {
	full := `{"a": [1, {"b": "c"}], "d": true}`
	for i := range len(full) {
		if _, err := Parse([]byte(full[:i])); err == nil {
			t.Errorf("Parse(%q) accepted a truncated document", full[:i])
		}
	}
}

// BenchmarkParseMarshal measures the tree path, taken for documents whose
// keys are not already sorted.
func BenchmarkParseMarshal(b *testing.B) {
	recs := benchRecords(b)
	b.ReportAllocs()
	var dst []byte
	for b.Loop() {
		for _, r := range recs {
			v, err := Parse(r)
			if err != nil {
				b.Fatal(err)
			}
			dst = AppendIndent(dst[:0], v, 0)
		}
	}
}

// benchRecords returns 1,000 synthetic records and sets b's byte count.
func benchRecords(b *testing.B) [][]byte {
	var recs [][]byte
	total := 0
	for i := range 1000 {
		_, r := synth.Record(i, "")
		recs = append(recs, r)
		total += len(r)
	}
	b.SetBytes(int64(total))
	return recs
}

package repodata

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/trust"
)

// TestDerivedPackageRecords runs every package_record case of
// testdata/vectors/derived/expected.json.
func TestDerivedPackageRecords(t *testing.T) {
	var exp struct {
		Cases []struct {
			ID, Kind, Trusted, Candidate, Note string
			ReferenceTime                      string `json:"reference_time"`
			Expect                             string `json:"expect_tuf_spec"`
		}
	}
	if err := json.Unmarshal(testvectors.ReadLocal(t, "vectors/derived/expected.json"), &exp); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range exp.Cases {
		if c.Kind != "package_record" {
			continue
		}
		n++
		t.Run(c.ID, func(t *testing.T) {
			var kmData []byte
			if strings.HasPrefix(c.Trusted, "../") {
				kmData = testvectors.Read(t, strings.TrimPrefix(c.Trusted, "../"))
			} else {
				kmData = testvectors.ReadLocal(t, "vectors/derived/"+c.Trusted)
			}
			km, err := trust.ParseMetadata(kmData, trust.RoleKeyMgr)
			if err != nil {
				t.Fatal(err)
			}
			at, err := time.Parse(time.RFC3339, c.ReferenceTime)
			if err != nil {
				t.Fatal(err)
			}
			if err := trust.CheckExpiry(km, trust.Options{At: at}, nil); err != nil {
				t.Fatalf("key_mgr at %s: %v", c.ReferenceTime, err)
			}
			v, err := NewVerifier(km)
			if err != nil {
				t.Fatal(err)
			}
			file, fn, _ := strings.Cut(c.Candidate, "#")
			f, err := Parse(testvectors.ReadLocal(t, "vectors/derived/"+file))
			if err != nil {
				t.Fatal(err)
			}
			rec, ok := f.Record(fn)
			if !ok {
				t.Fatalf("no record %s", fn)
			}
			res, err := v.VerifyRecord(f, rec)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]Status{"accept": Trusted, "reject": Untrusted}[c.Expect]
			if c.ID == "pkg-e-0.5-0.tar.bz2" {
				want = Unsigned
			}
			if res.Status != want {
				t.Errorf("%s: status %s (%s), want %s (%s)", fn, res.Status, res.Reason, want, c.Note)
			}
			if (res.Err() == nil) != (c.Expect == "accept") {
				t.Errorf("Err() = %v for expectation %s", res.Err(), c.Expect)
			}
		})
	}
	if n != 11 {
		t.Errorf("ran %d package_record cases, want 11", n)
	}
}

// TestCanonicalSignables checks that every record of chain-known-keys
// canonicalizes to the exact signed bytes kept beside it.
func TestCanonicalSignables(t *testing.T) {
	dir := testvectors.Local("vectors/derived/chain-known-keys/canonical")
	f, err := Parse(testvectors.ReadLocal(t, "vectors/derived/chain-known-keys/repodata.json"))
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		fn, ok := strings.CutSuffix(e.Name(), ".signable")
		if !ok {
			continue
		}
		n++
		want, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		rec, ok := f.Record(fn)
		if !ok {
			t.Fatalf("no record %s", fn)
		}
		got, err := rec.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: canonical bytes differ\n got %q\nwant %q", fn, got, want)
		}
	}
	if n != 5 {
		t.Errorf("checked %d signables, want 5", n)
	}
}

// TestUpstreamRepodata verifies conda-content-trust's own signed test
// repodata (upstream data, read from ../shared/vectors).
func TestUpstreamRepodata(t *testing.T) {
	data := testvectors.Read(t, "cct/testdata/repodata.json")
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := trust.ParsePublicKey("01d90fd731eb6f7c16215d23c23674bda7abf56490a03a10753aae99edce1b82")
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{PkgMgr: trust.Delegation{Keys: []trust.PublicKey{pub}, Threshold: 1}}
	rep, err := v.Verify(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{
		"first.tar.bz2":               Trusted,
		"second.conda":                Trusted,
		"third.conda":                 Trusted,
		"broken-0.0.1-broken.tar.bz2": Untrusted,
		"broken-0.0.1-broken.conda":   Unsigned,
	}
	got := map[string]Status{}
	for _, r := range rep.Results {
		got[r.Filename] = r.Status
	}
	for fn, st := range want {
		if got[fn] != st {
			t.Errorf("%s: %s, want %s", fn, got[fn], st)
		}
	}
	if rep.Trusted != 3 || rep.Untrusted != 1 || rep.Unsigned != 1 {
		t.Errorf("counts %d/%d/%d, want 3/1/1", rep.Trusted, rep.Untrusted, rep.Unsigned)
	}
}

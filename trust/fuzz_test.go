package trust_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/trust"
)

func addMetadataSeeds(f *testing.F) {
	for _, dir := range []string{"vectors/derived/chain-synthetic/repo", "vectors/derived/chain-synthetic/bad-root-updates/after-1",
		"vectors/derived/chain-synthetic/bad-key_mgr", "vectors/cct/harness_chain"} {
		ents, _ := os.ReadDir(testvectors.Local(dir))
		for _, e := range ents {
			if filepath.Ext(e.Name()) == ".json" {
				b, _ := os.ReadFile(filepath.Join(testvectors.Local(dir), e.Name()))
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"signatures":{"x":{"signature":"00"}},"signed":{}}`))
	// A delegation to the identity point (a weak key), one key in two
	// roles, a duplicate key, out-of-range numbers, another spec version.
	const id = "0100000000000000000000000000000000000000000000000000000000000000"
	const k = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
	for _, signed := range []string{
		`{"delegations":{"key_mgr":{"pubkeys":["` + k + `"],"threshold":1},"root":{"pubkeys":["` + id + `"],"threshold":1}},"expiration":"2030-01-01T00:00:00Z","metadata_spec_version":"0.6.0","timestamp":"2020-01-01T00:00:00Z","type":"root","version":1}`,
		`{"delegations":{"key_mgr":{"pubkeys":["` + k + `"],"threshold":1},"root":{"pubkeys":["` + k + `"],"threshold":1}},"expiration":"2030-01-01T00:00:00Z","metadata_spec_version":"0.6.0","timestamp":"2020-01-01T00:00:00Z","type":"root","version":1}`,
		`{"delegations":{"pkg_mgr":{"pubkeys":["` + k + `"],"threshold":4294967297}},"expiration":"2030-01-01T00:00:00Z","metadata_spec_version":"0.6.0","timestamp":"2020-01-01T00:00:00Z","type":"key_mgr","version":9007199254740993}`,
		`{"delegations":{"pkg_mgr":{"pubkeys":["` + k + `"],"threshold":1}},"expiration":"2030-01-01T00:00:00Z","metadata_spec_version":"0.6","timestamp":"2020-01-01T00:00:00Z","type":"key_mgr","type":"root","version":1}`,
	} {
		f.Add([]byte(`{"signatures":{},"signed":` + signed + `}`))
	}
}

// FuzzParseMetadata: the envelope and metadata parsers never panic, fail
// only with the documented error classes, and what they accept survives a
// canonical round trip unchanged.
func FuzzParseMetadata(f *testing.F) {
	addMetadataSeeds(f)
	trusted, err := trust.ParseMetadata(testvectors.ReadLocal(f, "vectors/derived/chain-synthetic/repo/1.root.json"), trust.RoleRoot)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := trust.ParseEnvelope(data)
		if err != nil {
			if !errors.Is(err, trust.ErrMalformed) {
				t.Fatalf("envelope error of the wrong class: %v", err)
			}
			return
		}
		for _, s := range env.Signatures() {
			if s.Form != trust.FormMalformed && len(s.Sig) != 64 {
				t.Fatalf("accepted a signature of %d bytes", len(s.Sig))
			}
		}
		again, err := trust.ParseEnvelope(env.Marshal())
		if err != nil || string(again.Marshal()) != string(env.Marshal()) {
			t.Fatalf("round trip changed the envelope: %v", err)
		}
		m, err := trust.MetadataFromEnvelope(env, "")
		if err != nil {
			if !errors.Is(err, trust.ErrMalformed) && !errors.Is(err, trust.ErrVerification) {
				t.Fatalf("metadata error of the wrong class: %v", err)
			}
			return
		}
		for name, d := range m.Delegations {
			if d.Threshold < 1 || d.Threshold > trust.MaxThreshold {
				t.Fatalf("delegation %s with threshold %d accepted", name, d.Threshold)
			}
			for _, k := range d.Keys {
				if trust.CheckPublicKey(k) != nil {
					t.Fatalf("delegation %s to weak key %s accepted", name, k)
				}
			}
		}
		if m.Version < 1 || m.Version > trust.MaxVersion {
			t.Fatalf("version %d accepted", m.Version)
		}
		// A chain started from it never panics and fails only with a
		// verification error.
		if m.Type == trust.RoleRoot {
			if c, err := trust.NewChain(m, trust.Options{AllowExpired: true}); err != nil && !errors.Is(err, trust.ErrVerification) {
				t.Fatalf("chain error of the wrong class: %v", err)
			} else if err == nil {
				if _, err := c.EndRoots(); err != nil && !errors.Is(err, trust.ErrVerification) {
					t.Fatalf("chain error of the wrong class: %v", err)
				}
			}
		}
		// Verification never panics and only fails with a verification error.
		switch m.Type {
		case trust.RoleRoot:
			if _, err := trust.VerifyRootUpdate(trusted, m, trust.Options{AllowExpired: true}); err != nil && !errors.Is(err, trust.ErrVerification) {
				t.Fatalf("root update error of the wrong class: %v", err)
			}
		case trust.RoleKeyMgr:
			if _, err := trust.VerifyDelegated(trusted, m, trust.Options{AllowExpired: true}); err != nil && !errors.Is(err, trust.ErrVerification) {
				t.Fatalf("delegation error of the wrong class: %v", err)
			}
		}
	})
}

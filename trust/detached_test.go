package trust_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/condatrust/condatrust/trust"
)

const (
	detKey = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
	detSig = "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	detSum = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

func detachedDoc(sigs string) string {
	return `{"signatures":` + sigs + `,"signed_sha256":"` + detSum + `","type":"root","version":2}`
}

func TestParseDetached(t *testing.T) {
	good := detachedDoc(`{"` + detKey + `":{"other_headers":"0400","signature":"` + detSig + `"}}`)
	d, err := trust.ParseDetached([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if d.Type != "root" || d.Version != 2 || len(d.Signatures) != 1 || d.Signatures[0].Form != trust.FormOpenPGP || d.Signatures[0].KeyID != detKey {
		t.Fatalf("parsed %+v", d)
	}
	if got := string(d.Marshal()); strings.Join(strings.Fields(got), "") != good {
		t.Errorf("round trip: %s", got)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"duplicate key", strings.Replace(good, `"type":"root"`, `"type":"root","type":"key_mgr"`, 1), "duplicate"},
		{"duplicate entry", detachedDoc(`{"` + detKey + `":{"signature":"` + detSig + `"},"` + detKey + `":{"signature":"` + detSig + `"}}`), "duplicate"},
		{"extra member", strings.Replace(good, `"type"`, `"x":1,"type"`, 1), "exactly the keys"},
		{"missing digest", strings.Replace(good, `"signed_sha256":"`+detSum+`",`, ``, 1), "exactly the keys"},
		{"short digest", strings.Replace(good, detSum, "aa", 1), "signed_sha256"},
		{"upper digest", strings.Replace(good, detSum, strings.ToUpper(detSum), 1), "signed_sha256"},
		{"bad type", strings.Replace(good, `"root"`, `"repodata"`, 1), "type"},
		{"version 0", strings.Replace(good, `"version":2`, `"version":0`, 1), "version"},
		{"float version", strings.Replace(good, `"version":2`, `"version":2.0`, 1), "version"},
		{"no entries", detachedDoc(`{}`), "no entry"},
		{"bad key id", detachedDoc(`{"` + strings.ToUpper(detKey) + `":{"signature":"` + detSig + `"}}`), "lowercase hex"},
		{"bad entry", detachedDoc(`{"` + detKey + `":{"signature":"00"}}`), "128 lowercase hex"},
		{"array", `[]`, "JSON object"},
		{"too big", good + strings.Repeat(" ", trust.MaxDetachedSize), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := trust.ParseDetached([]byte(tc.doc))
			if !errors.Is(err, trust.ErrMalformed) {
				t.Fatalf("err = %v, want a format error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestNewDetachedMatches(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	var k trust.PublicKey
	copy(k[:], pub)
	env, err := trust.Build(trust.Params{Type: trust.RoleKeyMgr, Version: 1, Timestamp: time.Now(), Expiration: time.Now().Add(time.Hour), Delegations: map[string]trust.Delegation{trust.RolePkgMgr: {Keys: []trust.PublicKey{k}, Threshold: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.SetSignature(k, trust.Signature{Form: trust.FormRaw, Sig: ed25519.Sign(priv, env.SignedBytes())}); err != nil {
		t.Fatal(err)
	}
	m, err := trust.MetadataFromEnvelope(env, trust.RoleKeyMgr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trust.NewDetached(m, []trust.PublicKey{{1}}); err == nil {
		t.Error("NewDetached accepted a key that did not sign")
	}
	d, err := trust.NewDetached(m, []trust.PublicKey{k})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(env.SignedBytes())
	if hex.EncodeToString(d.SignedSHA256[:]) != hex.EncodeToString(sum[:]) || !d.Matches(env) {
		t.Error("digest does not match the signed bytes")
	}
	back, err := trust.ParseDetached(d.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !back.Matches(env) || !trust.SignatureValid(env, back.Signatures[0], trust.ModeRaw) {
		t.Error("the parsed signature does not verify")
	}
	other := trust.Wrap(env.Signed)
	other.Signed, _ = env.Signed.With("version", env.Signed)
	if back.Matches(other) {
		t.Error("matches a changed document")
	}
}

// FuzzParseDetached: the detached signature parser never panics, fails
// only with format errors, and what it accepts survives Marshal unchanged.
func FuzzParseDetached(f *testing.F) {
	f.Add([]byte(detachedDoc(`{"` + detKey + `":{"other_headers":"0400","signature":"` + detSig + `"}}`)))
	f.Add([]byte(detachedDoc(`{"` + detKey + `":{"other_headers":"0400","see_also":"` + detSum[:40] + `","signature":"` + detSig + `"}}`)))
	f.Add([]byte(detachedDoc(`{"` + detKey + `":{"signature":"` + detSig + `"}}`)))
	f.Add([]byte(detachedDoc(`{"` + detKey + `":{"signature":"` + detSig + `"},"` + detKey + `":{}}`)))
	f.Add([]byte(`{"signatures":{},"signed_sha256":"","type":"root","version":1e3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := trust.ParseDetached(data)
		if err != nil {
			if !errors.Is(err, trust.ErrMalformed) {
				t.Fatalf("error of another class: %v", err)
			}
			return
		}
		again, err := trust.ParseDetached(d.Marshal())
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v", err)
		}
		if string(again.Marshal()) != string(d.Marshal()) {
			t.Fatalf("round trip changed the file")
		}
	})
}

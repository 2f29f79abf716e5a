package attest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// These tests sign statements with sigstore-go's virtual Sigstore (a
// throw-away Fulcio, Rekor and timestamp authority made in memory), to
// reach the checks an edited real bundle cannot: a validly logged entry
// that belongs to another envelope, a log time past the certificate's
// expiry, and statements that verify but say the wrong thing.

const (
	vIdentity = "builder@example.com"
	vIssuer   = "https://issuer.example.com"
	vName     = "demo-1.0-0.conda"
	vChannel  = "https://conda.example.com/main"
)

var vSHA = hex.EncodeToString(sha256.New().Sum(nil))

func statement(t *testing.T, name, sha, predicateType, channel string) []byte {
	t.Helper()
	st := map[string]any{
		"_type":         StatementType,
		"subject":       []any{map[string]any{"name": name, "digest": map[string]any{"sha256": sha}}},
		"predicateType": predicateType,
		"predicate":     map[string]any{"targetChannel": channel},
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func virtual(t *testing.T) (*ca.VirtualSigstore, *Verifier) {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	v, err := newVerifier(vs, Policy{Identity: vIdentity, Issuer: vIssuer, Channel: vChannel}, false)
	if err != nil {
		t.Fatal(err)
	}
	return vs, v
}

func TestVirtualAccepted(t *testing.T) {
	vs, v := virtual(t)
	e, err := vs.Attest(vIdentity, vIssuer, statement(t, vName, vSHA, PredicateType, vChannel))
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.verifyEntities([]verify.SignedEntity{e}, Subject{Name: vName, SHA256: vSHA})
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if res.Name != vName || res.Identity != vIdentity || res.Issuer != vIssuer || res.Channel != vChannel || res.TimeSource != "tlog" {
		t.Errorf("result %+v", res)
	}
}

func TestVirtualRefused(t *testing.T) {
	vs, v := virtual(t)
	good := statement(t, vName, vSHA, PredicateType, vChannel)
	attest := func(t *testing.T, identity, issuer string, body []byte) verify.SignedEntity {
		t.Helper()
		e, err := vs.Attest(identity, issuer, body)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	tests := []struct {
		name   string
		entity func(t *testing.T) verify.SignedEntity
		check  Check
		reason string
	}{
		{"expired certificate at a forged time", func(t *testing.T) verify.SignedEntity {
			// The log (validly) signs an integrated time 30 minutes after
			// the 10-minute certificate was issued.
			e, err := vs.AttestAtTime(vIdentity, vIssuer, good, time.Now().Add(30*time.Minute), false)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}, CheckSigstore, "integrated time outside certificate validity"},
		{"log entry of another envelope", func(t *testing.T) verify.SignedEntity {
			a := attest(t, vIdentity, vIssuer, good).(*ca.TestEntity)
			b := attest(t, vIdentity, vIssuer, good).(*ca.TestEntity)
			entries, _ := b.TlogEntries()
			return &swappedTlog{a, entries}
		}, CheckSigstore, "transparency log signature does not match"},
		{"predicate type", func(t *testing.T) verify.SignedEntity {
			return attest(t, vIdentity, vIssuer, statement(t, vName, vSHA, "https://slsa.dev/provenance/v1", vChannel))
		}, CheckPredicateType, `predicate type "https://slsa.dev/provenance/v1"`},
		{"signed statement for another file", func(t *testing.T) verify.SignedEntity {
			return attest(t, vIdentity, vIssuer, statement(t, "demo-1.0-1.conda", vSHA, PredicateType, vChannel))
		}, CheckSubjectName, `no subject is named "demo-1.0-0.conda" (subjects: "demo-1.0-1.conda")`},
		{"signed statement for other bytes", func(t *testing.T) verify.SignedEntity {
			return attest(t, vIdentity, vIssuer, statement(t, vName, sha(t, "other"), PredicateType, vChannel))
		}, CheckSubjectDigest, "the attestation is for other bytes"},
		{"another identity", func(t *testing.T) verify.SignedEntity {
			return attest(t, "intruder@example.com", vIssuer, good)
		}, CheckIdentity, `the certificate's identity is "intruder@example.com"`},
		{"another issuer", func(t *testing.T) verify.SignedEntity {
			return attest(t, vIdentity, "https://evil.example.com", good)
		}, CheckIssuer, `the certificate's OIDC issuer is "https://evil.example.com"`},
		{"another channel", func(t *testing.T) verify.SignedEntity {
			return attest(t, vIdentity, vIssuer, statement(t, vName, vSHA, PredicateType, "https://conda.example.com/dev"))
		}, CheckChannel, `targetChannel is "https://conda.example.com/dev"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.verifyEntities([]verify.SignedEntity{tc.entity(t)}, Subject{Name: vName, SHA256: vSHA})
			if err == nil {
				t.Fatalf("accepted: %+v", res)
			}
			assertRefusal(t, err, tc.check, tc.reason)
		})
	}

	// Several bundles: one good one suffices; none good names each.
	bad := attest(t, "intruder@example.com", vIssuer, good)
	res, err := v.verifyEntities([]verify.SignedEntity{bad, attest(t, vIdentity, vIssuer, good)}, Subject{Name: vName, SHA256: vSHA})
	if err != nil || res.Bundle != 1 {
		t.Fatalf("second bundle: %v %+v", err, res)
	}
	_, err = v.verifyEntities([]verify.SignedEntity{bad, attest(t, vIdentity, "https://evil.example.com", good)}, Subject{Name: vName, SHA256: vSHA})
	assertRefusal(t, err, CheckIdentity, "none of the 2 bundles verified (bundle 0: identity: ")
}

func sha(t *testing.T, s string) string {
	t.Helper()
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// swappedTlog is an entity carrying another entity's (validly signed)
// log entries.
type swappedTlog struct {
	*ca.TestEntity
	entries []*tlog.Entry
}

func (s *swappedTlog) TlogEntries() ([]*tlog.Entry, error) { return s.entries, nil }

// TestVirtualDigestOnlyNamesAPackage: given only a sha256, the subject
// found by it must name a conda package file, else the attestation is for
// something else (a tarball, a path) and is refused.
func TestVirtualDigestOnlyNamesAPackage(t *testing.T) {
	vs, v := virtual(t)
	for _, c := range []struct {
		name string
		ok   bool
	}{{vName, true}, {"demo-1.0-0.tar.bz2", true}, {"demo-1.0.tar.gz", false}, {"sub/demo-1.0-0.conda", false}, {".conda", false}} {
		e, err := vs.Attest(vIdentity, vIssuer, statement(t, c.name, vSHA, PredicateType, vChannel))
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.verifyEntities([]verify.SignedEntity{e}, Subject{SHA256: vSHA})
		if c.ok {
			if err != nil || res.Name != c.name {
				t.Errorf("%s: %v %+v", c.name, err, res)
			}
			continue
		}
		var re *RefusalError
		if !errors.As(err, &re) || re.Check != CheckSubjectName {
			t.Errorf("%s: got %v, want a subject-name refusal", c.name, err)
		}
	}
}

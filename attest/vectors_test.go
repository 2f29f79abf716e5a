package attest

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/trust"
)

const (
	sidecarVector = "sigstore/prefix-actionlint-1.7.12-h60d57d3_0.conda.v0.sigs"
	rootVector    = "tuf-conformance/sigstore-root-signing/targets/f44a1b88128e55ebfb62189becbc0fa48d4ec9915c65ac54ba0e46a008b12d5b.trusted_root.json"
)

// expected is sigstore/expected.json: the facts the real sidecar must
// yield.
type expected struct {
	Name     string `json:"artifact_name"`
	SHA256   string `json:"artifact_sha256"`
	Identity string `json:"certificate_identity"`
	Issuer   string `json:"certificate_oidc_issuer"`
	Channel  string `json:"channel"`
	Time     string `json:"integrated_time_contains"`
	Pred     string `json:"predicate_type"`
}

func realVectors(t *testing.T) (sidecar, trustedRoot []byte, want expected) {
	t.Helper()
	sidecar = testvectors.Read(t, sidecarVector)
	trustedRoot = testvectors.Read(t, rootVector)
	if err := json.Unmarshal(testvectors.Read(t, "sigstore/expected.json"), &want); err != nil {
		t.Fatal(err)
	}
	return sidecar, trustedRoot, want
}

func realPolicy(want expected) Policy {
	return Policy{Identity: want.Identity, Issuer: want.Issuer, Channel: want.Channel}
}

// The real prefix.dev sidecar verifies, offline, against the public-good
// trusted root and the policy expected.json describes.
func TestRealSidecar(t *testing.T) {
	sidecar, trustedRoot, want := realVectors(t)
	v, err := NewVerifier(trustedRoot, realPolicy(want))
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(sidecar, Subject{Name: want.Name, SHA256: want.SHA256})
	if err != nil {
		t.Fatalf("real sidecar refused: %v", err)
	}
	if res.Name != want.Name || res.SHA256 != want.SHA256 || res.Identity != want.Identity ||
		res.Issuer != want.Issuer || res.Channel != want.Channel || res.PredicateType != want.Pred || res.PredicateType != PredicateType {
		t.Errorf("result %+v does not match expected.json %+v", res, want)
	}
	// expected.json: "2026-03-31T02:58:32Z"; the log's integrated time
	// is 1774925911, one second earlier (the upstream test accepts a
	// range around it).
	wantTime, _ := time.Parse(time.RFC3339, want.Time)
	if d := res.SignedAt.Sub(wantTime); d < -2*time.Second || d > 2*time.Second || res.TimeSource != "tlog" {
		t.Errorf("signed at %s (%s), expected.json says about %s", res.SignedAt, res.TimeSource, want.Time)
	}
	if got := res.SignedAt.Unix(); got != 1774925911 {
		t.Errorf("integrated time %d, want 1774925911", got)
	}
	if res.LogIndex != 1202156555 || res.Bundle != 0 {
		t.Errorf("log index %d bundle %d", res.LogIndex, res.Bundle)
	}

	// A regular expression for the identity, and the sha256 alone.
	v2, err := NewVerifier(trustedRoot, Policy{IdentityRegexp: `https://github\.com/hunger/octoconda/\.github/workflows/.*@refs/heads/main`, Issuer: want.Issuer})
	if err != nil {
		t.Fatal(err)
	}
	res, err = v2.Verify(sidecar, Subject{SHA256: strings.ToUpper(want.SHA256)})
	if err != nil {
		t.Fatalf("by sha256 alone: %v", err)
	}
	if res.Name != want.Name {
		t.Errorf("name from the statement %q, want %q", res.Name, want.Name)
	}

	// The bare bundle, out of its sidecar array.
	var raws []json.RawMessage
	if err := json.Unmarshal(sidecar, &raws); err != nil || len(raws) != 1 {
		t.Fatalf("sidecar: %v, %d bundles", err, len(raws))
	}
	if _, err := v.Verify(raws[0], Subject{Name: want.Name, SHA256: want.SHA256}); err != nil {
		t.Errorf("bare bundle: %v", err)
	}
}

// Negative cases on the real sidecar: each is refused with rule
// attestation, the named check and a reason.
func TestRealSidecarRefused(t *testing.T) {
	sidecar, trustedRoot, want := realVectors(t)
	otherSHA := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		policy  func(*Policy)
		subject func(*Subject)
		edit    func(t *testing.T, b map[string]any)
		check   Check
		reason  string
	}{
		{name: "package digest differs", subject: func(s *Subject) { s.SHA256 = otherSHA },
			check: CheckSubjectDigest, reason: "has sha256 " + want.SHA256 + ", but the package's is " + otherSHA},
		{name: "package name differs", subject: func(s *Subject) { s.Name = "actionlint-1.7.12-h60d57d3_1.conda" },
			check: CheckSubjectName, reason: `no subject is named "actionlint-1.7.12-h60d57d3_1.conda"`},
		{name: "sha256 alone matches no subject", subject: func(s *Subject) { s.Name, s.SHA256 = "", otherSHA },
			check: CheckSubjectDigest, reason: "no subject has sha256 " + otherSHA},
		{name: "identity not the policy's", policy: func(p *Policy) {
			p.Identity = "https://github.com/hunger/octoconda/.github/workflows/octoconda.yaml@refs/heads/dev"
		},
			check: CheckIdentity, reason: `the certificate's identity is "` + want.Identity + `"`},
		{name: "identity regexp matches only a part", policy: func(p *Policy) { p.Identity, p.IdentityRegexp = "", `https://github\.com/hunger/octoconda` },
			check: CheckIdentity, reason: "in full"},
		{name: "issuer not the policy's", policy: func(p *Policy) { p.Issuer = "https://accounts.google.com" },
			check: CheckIssuer, reason: `the certificate's OIDC issuer is "https://token.actions.githubusercontent.com", the policy wants "https://accounts.google.com"`},
		{name: "channel not the policy's", policy: func(p *Policy) { p.Channel = "https://prefix.dev/conda-forge" },
			check: CheckChannel, reason: `targetChannel is "https://prefix.dev/github-releases"`},
		{name: "statement digest edited", edit: func(t *testing.T, b map[string]any) {
			editStatement(t, b, func(st map[string]any) {
				st["subject"].([]any)[0].(map[string]any)["digest"].(map[string]any)["sha256"] = otherSHA
			})
		}, check: CheckSigstore, reason: "does not match envelope payload hash"},
		{name: "statement subject name edited", edit: func(t *testing.T, b map[string]any) {
			editStatement(t, b, func(st map[string]any) {
				st["subject"].([]any)[0].(map[string]any)["name"] = "actionlint-9.9.9-h60d57d3_0.conda"
			})
		}, check: CheckSigstore, reason: "does not match envelope payload hash"},
		{name: "DSSE signature edited", edit: func(t *testing.T, b map[string]any) {
			sig := b["dsseEnvelope"].(map[string]any)["signatures"].([]any)[0].(map[string]any)
			sig["sig"] = flipBase64(t, sig["sig"].(string))
		}, check: CheckSigstore, reason: "transparency log signature does not match"},
		{name: "log entry body does not match the bundle", edit: func(t *testing.T, b map[string]any) {
			e := tlogEntry(b)
			e["canonicalizedBody"] = flipBase64(t, e["canonicalizedBody"].(string))
		}, check: CheckSigstore, reason: "failed to verify log inclusion"},
		{name: "log entry of another index", edit: func(t *testing.T, b map[string]any) {
			tlogEntry(b)["logIndex"] = "1202156556"
		}, check: CheckSigstore, reason: "failed to verify log inclusion"},
		{name: "integrated time forged past the certificate's expiry", edit: func(t *testing.T, b map[string]any) {
			tlogEntry(b)["integratedTime"] = "1774929600" // 2026-03-31T04:00:00Z, the certificate ended 03:08:31
		}, check: CheckSigstore, reason: "failed to verify log inclusion"},
		{name: "certificate removed", edit: func(t *testing.T, b map[string]any) {
			delete(b["verificationMaterial"].(map[string]any), "certificate")
		}, check: "format"},
		{name: "no bundle", edit: nil, check: CheckMissing, reason: "the sidecar holds no bundle"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := realPolicy(want)
			if tc.policy != nil {
				tc.policy(&p)
			}
			sub := Subject{Name: want.Name, SHA256: want.SHA256}
			if tc.subject != nil {
				tc.subject(&sub)
			}
			data := sidecar
			switch {
			case tc.edit != nil:
				data = editBundle(t, sidecar, tc.edit)
			case tc.check == CheckMissing:
				data = []byte("[]\n")
			}
			v, err := NewVerifier(trustedRoot, p)
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(data, sub)
			if err == nil {
				t.Fatalf("accepted: %+v", res)
			}
			if tc.check == "format" {
				if !errors.Is(err, trust.ErrMalformed) || errors.Is(err, trust.ErrVerification) {
					t.Fatalf("want a format error, got %T %v", err, err)
				}
				return
			}
			assertRefusal(t, err, tc.check, tc.reason)
		})
	}
}

func assertRefusal(t *testing.T, err error, check Check, reason string) {
	t.Helper()
	var re *RefusalError
	if !errors.As(err, &re) {
		t.Fatalf("not a refusal: %T %v", err, err)
	}
	var ve *trust.VerificationError
	if !errors.Is(err, trust.ErrVerification) || !errors.As(err, &ve) || ve.Rule != trust.RuleAttestation {
		t.Fatalf("refusal does not carry rule %s: %v", trust.RuleAttestation, err)
	}
	if re.Check != check {
		t.Fatalf("check %q, want %q: %v", re.Check, check, err)
	}
	if !strings.Contains(re.Reason, reason) {
		t.Fatalf("reason %q does not say %q", re.Reason, reason)
	}
	t.Logf("refused: %v", err)
}

// editBundle parses the sidecar's first bundle, applies edit and returns
// the sidecar again.
func editBundle(t *testing.T, sidecar []byte, edit func(*testing.T, map[string]any)) []byte {
	t.Helper()
	var bundles []map[string]any
	if err := json.Unmarshal(sidecar, &bundles); err != nil {
		t.Fatal(err)
	}
	edit(t, bundles[0])
	out, err := json.Marshal(bundles)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tlogEntry(b map[string]any) map[string]any {
	return b["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)
}

// editStatement rewrites the DSSE payload (the in-toto statement),
// leaving the signature as it is.
func editStatement(t *testing.T, b map[string]any, edit func(map[string]any)) {
	t.Helper()
	env := b["dsseEnvelope"].(map[string]any)
	payload := mustBase64(t, env["payload"].(string))
	var st map[string]any
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	edit(st)
	payload, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	env["payload"] = base64Std(payload)
}

// A file of several trusted roots, one per line, is refused with what to
// do; so is one naming no log.
func TestTrustedRootForms(t *testing.T) {
	_, trustedRoot, want := realVectors(t)
	line := bytes.ReplaceAll(bytes.TrimSpace(compactJSON(t, trustedRoot)), []byte("\n"), nil)
	_, err := NewVerifier(append(append(append([]byte{}, line...), '\n'), line...), realPolicy(want))
	var fe *trust.FormatError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "2 JSON documents, one per line") {
		t.Errorf("JSON lines: %v", err)
	}
	_, err = NewVerifier([]byte(`{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), realPolicy(want))
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "names no certificate authority or no transparency log") {
		t.Errorf("empty root: %v", err)
	}
}

func compactJSON(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// BenchmarkVerifyRealSidecar: one attestation check as fetch, verify-package
// and the proxy make it (parse, sigstore-go, policy), on the real sidecar.
func BenchmarkVerifyRealSidecar(b *testing.B) {
	sidecar := testvectors.Read(b, sidecarVector)
	trustedRoot := testvectors.Read(b, rootVector)
	v, err := NewVerifier(trustedRoot, Policy{Identity: "https://github.com/hunger/octoconda/.github/workflows/octoconda.yaml@refs/heads/main", Issuer: "https://token.actions.githubusercontent.com"})
	if err != nil {
		b.Fatal(err)
	}
	sub := Subject{Name: "actionlint-1.7.12-h60d57d3_0.conda", SHA256: "e3e0f35dec5b09b18baac8729d14115903b5adfd25065f8bbb90a2b3be5401e4"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(sidecar, sub); err != nil {
			b.Fatal(err)
		}
	}
}

package attest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/condatrust/condatrust/trust"
)

// Check names the check an attestation failed, in a [RefusalError].
type Check string

// The checks, in the order they run. CheckSigstore covers everything
// sigstore-go verifies (bundle, log entry, signed time, certificate chain,
// SCT, DSSE signature); its Reason is sigstore-go's message, which names
// the step.
const (
	CheckMissing       Check = "missing"        // no sidecar, or no bundle in it
	CheckSigstore      Check = "sigstore"       // the bundle does not verify against the trusted root
	CheckStatement     Check = "statement"      // the payload is not an in-toto v1 statement
	CheckPredicateType Check = "predicate-type" // not a CEP 27 publish attestation
	CheckSubjectName   Check = "subject-name"   // no subject is named as the package file
	CheckSubjectDigest Check = "subject-digest" // the named subject's sha256 is not the package's
	CheckIssuer        Check = "issuer"         // the certificate's OIDC issuer is not the policy's
	CheckIdentity      Check = "identity"       // the certificate's identity (SAN) is not the policy's
	CheckChannel       Check = "channel"        // the predicate's targetChannel is not the policy's
)

// RefusalError is an attestation refused: it matches
// [trust.ErrVerification] and unwraps to a [*trust.VerificationError] with
// rule [trust.RuleAttestation].
type RefusalError struct {
	File   string // the package file name, or its sha256 when the name is not known
	Check  Check
	Reason string
}

func (e *RefusalError) Error() string {
	return fmt.Sprintf("%s: attestation refused (%s): %s", e.File, e.Check, e.Reason)
}

// Unwrap returns the refusal as a [*trust.VerificationError] with rule
// [trust.RuleAttestation].
func (e *RefusalError) Unwrap() error {
	return &trust.VerificationError{Role: e.File, Rule: trust.RuleAttestation, Detail: fmt.Sprintf("attestation refused (%s): %s", e.Check, e.Reason)}
}

// Missing returns the refusal of a package that has no attestation at all;
// where says where none was found (a URL or a file name).
func Missing(file, where string) error {
	return &RefusalError{File: file, Check: CheckMissing, Reason: "no attestation found at " + where}
}

// Subject is what an attestation must be about: the package's file name
// and the sha256 of its bytes (64 hex digits). With Name empty, any
// subject with the sha256 is accepted and its name reported.
type Subject struct {
	Name   string
	SHA256 string
}

// Result is what a verified attestation says.
type Result struct {
	Name          string    // the subject's name: the package file name
	SHA256        string    // the subject's sha256, lower-case hex
	PredicateType string    // always PredicateType
	Channel       string    // the predicate's targetChannel, "" if absent
	Identity      string    // the certificate's subject alternative name
	Issuer        string    // the certificate's OIDC issuer
	SignedAt      time.Time // the verified signed time (the log's integrated time, or a timestamp authority's)
	TimeSource    string    // "tlog" or "tsa": who vouches for SignedAt
	LogIndex      int64     // the transparency log entry's index, -1 if none
	Bundle        int       // the index of the bundle in the sidecar
}

// Verifier verifies attestations against one trusted root and one policy.
// It is safe for concurrent use.
type Verifier struct {
	policy *compiledPolicy
	sv     *verify.Verifier
}

// NewVerifier returns a verifier for a Sigstore trusted root (the
// trusted_root.json of a Sigstore instance, such as the public-good one
// distributed by its TUF repository) and a policy. A root that does not
// parse is a [*trust.FormatError]; a policy that cannot be used matches
// [ErrPolicy].
//
// Certificates must carry a signed certificate timestamp (SCT) by a CT log
// of the root when the root lists CT logs, as the public-good one does; a
// root without any (a private instance without certificate transparency)
// verifies certificates without.
func NewVerifier(trustedRootJSON []byte, p Policy) (*Verifier, error) {
	tr, err := root.NewTrustedRootFromJSON(trustedRootJSON)
	if err != nil {
		if n := jsonLines(trustedRootJSON); n > 1 {
			return nil, &trust.FormatError{Role: "sigstore trusted root", Reason: fmt.Sprintf("%d JSON documents, one per line (as `gh attestation trusted-root` prints): keep the one line of the instance to trust, such as the public-good one (its tlogs name https://rekor.sigstore.dev)", n)}
		}
		return nil, &trust.FormatError{Role: "sigstore trusted root", Reason: "not a Sigstore trusted_root.json: " + err.Error()}
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 || len(tr.RekorLogs()) == 0 {
		return nil, &trust.FormatError{Role: "sigstore trusted root", Reason: "names no certificate authority or no transparency log: nothing can verify against it"}
	}
	return newVerifier(tr, p, len(tr.CTLogs()) > 0)
}

// newVerifier takes any trusted material; tests turn off SCTs, which
// sigstore-go's virtual Sigstore does not embed.
func newVerifier(m root.TrustedMaterial, p Policy, requireSCT bool) (*Verifier, error) {
	cp, err := p.compile()
	if err != nil {
		return nil, err
	}
	opts := []verify.VerifierOption{verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1)}
	if requireSCT {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	sv, err := verify.NewVerifier(m, opts...)
	if err != nil {
		return nil, err
	}
	return &Verifier{policy: cp, sv: sv}, nil
}

// Verify checks a sidecar (or a bare bundle) for subject: at least one of
// its bundles must pass every check (see the package documentation). It
// returns the first bundle's result that does; otherwise a
// [*RefusalError] (with several bundles, naming the first bundle's failed
// check and every bundle's reason). A sidecar that is not well formed is
// a [*trust.FormatError].
func (v *Verifier) Verify(sidecar []byte, subject Subject) (*Result, error) {
	sub, err := subject.normalize()
	if err != nil {
		return nil, err
	}
	bundles, err := ParseSidecar(sidecar)
	if err != nil {
		return nil, err
	}
	entities := make([]verify.SignedEntity, len(bundles))
	for i, b := range bundles {
		entities[i] = b
	}
	return v.verifyEntities(entities, sub)
}

func (s Subject) normalize() (Subject, error) {
	s.SHA256 = strings.ToLower(s.SHA256)
	if b, err := hex.DecodeString(s.SHA256); err != nil || len(b) != 32 {
		return s, fmt.Errorf("attest: sha256 %q is not 64 hex digits", s.SHA256)
	}
	return s, nil
}

func (s Subject) label() string {
	if s.Name != "" {
		return s.Name
	}
	return "sha256:" + s.SHA256
}

func (v *Verifier) verifyEntities(entities []verify.SignedEntity, sub Subject) (*Result, error) {
	if len(entities) == 0 {
		return nil, &RefusalError{File: sub.label(), Check: CheckMissing, Reason: "the sidecar holds no bundle"}
	}
	var refusals []*RefusalError
	for i, e := range entities {
		res, err := v.verifyEntity(e, sub)
		if err == nil {
			res.Bundle = i
			return res, nil
		}
		var re *RefusalError
		if !errors.As(err, &re) {
			return nil, err
		}
		refusals = append(refusals, re)
	}
	if len(refusals) == 1 {
		return nil, refusals[0]
	}
	reasons := make([]string, len(refusals))
	for i, r := range refusals {
		reasons[i] = fmt.Sprintf("bundle %d: %s: %s", i, r.Check, r.Reason)
	}
	return nil, &RefusalError{File: sub.label(), Check: refusals[0].Check,
		Reason: fmt.Sprintf("none of the %d bundles verified (%s)", len(refusals), strings.Join(reasons, "; "))}
}

// verifyEntity runs every check on one bundle.
func (v *Verifier) verifyEntity(e verify.SignedEntity, sub Subject) (*Result, error) {
	refuse := func(c Check, format string, args ...any) error {
		return &RefusalError{File: sub.label(), Check: c, Reason: fmt.Sprintf(format, args...)}
	}
	// sigstore-go checks the cryptography. The artifact is checked below,
	// against the statement it returns (only from a verified envelope), so
	// that a wrong name and a wrong digest are told apart; identities too,
	// so that a wrong issuer and a wrong identity are.
	vr, err := v.sv.Verify(e, verify.NewPolicy(verify.WithoutArtifactUnsafe(), verify.WithoutIdentitiesUnsafe()))
	if err != nil {
		return nil, refuse(CheckSigstore, "%v", err)
	}
	st := vr.Statement
	if st == nil {
		return nil, refuse(CheckStatement, "the bundle holds a message signature, not a DSSE envelope with an in-toto statement")
	}
	if st.GetType() != StatementType {
		return nil, refuse(CheckStatement, "statement type %q, want %q", st.GetType(), StatementType)
	}
	if st.GetPredicateType() != PredicateType {
		return nil, refuse(CheckPredicateType, "predicate type %q, want %q (a CEP 27 publish attestation)", st.GetPredicateType(), PredicateType)
	}
	var name, digest string
	var names []string
	for _, s := range st.GetSubject() {
		d := strings.ToLower(s.GetDigest()["sha256"])
		names = append(names, s.GetName())
		if sub.Name == "" {
			if d == sub.SHA256 {
				name, digest = s.GetName(), d
				break
			}
			continue
		}
		if s.GetName() == sub.Name {
			name, digest = s.GetName(), d
			break
		}
	}
	switch {
	case sub.Name == "" && name == "":
		return nil, refuse(CheckSubjectDigest, "no subject has sha256 %s (subjects: %s)", sub.SHA256, quoteList(names))
	case name == "":
		return nil, refuse(CheckSubjectName, "no subject is named %q (subjects: %s): the attestation is for another file", sub.Name, quoteList(names))
	case sub.Name == "" && !isPackageName(name):
		return nil, refuse(CheckSubjectName, "the statement's subject %q with this sha256 is not a conda package file name (.conda or .tar.bz2)", name)
	case digest != sub.SHA256:
		if digest == "" {
			return nil, refuse(CheckSubjectDigest, "subject %q has no sha256 digest", name)
		}
		return nil, refuse(CheckSubjectDigest, "subject %q has sha256 %s, but the package's is %s: the attestation is for other bytes", name, digest, sub.SHA256)
	}
	if vr.Signature == nil || vr.Signature.Certificate == nil {
		return nil, refuse(CheckIdentity, "the bundle is signed with a key, not a Sigstore certificate: it names no identity")
	}
	cert := vr.Signature.Certificate
	if cert.Extensions.Issuer != v.policy.Issuer {
		return nil, refuse(CheckIssuer, "the certificate's OIDC issuer is %q, the policy wants %q", cert.Extensions.Issuer, v.policy.Issuer)
	}
	if !v.policy.identityOK(cert.SubjectAlternativeName) {
		return nil, refuse(CheckIdentity, "the certificate's identity is %q, the policy wants %s", cert.SubjectAlternativeName, v.policy.wantIdentity())
	}
	channel := ""
	if p := st.GetPredicate(); p != nil {
		channel = p.GetFields()["targetChannel"].GetStringValue()
	}
	if v.policy.Channel != "" && !sameChannel(channel, v.policy.Channel) {
		return nil, refuse(CheckChannel, "the predicate's targetChannel is %q, the policy wants %q", channel, v.policy.Channel)
	}
	res := &Result{Name: name, SHA256: digest, PredicateType: st.GetPredicateType(), Channel: channel,
		Identity: cert.SubjectAlternativeName, Issuer: cert.Extensions.Issuer, LogIndex: -1}
	for _, ts := range vr.VerifiedTimestamps {
		if ts.Type == "Tlog" {
			res.SignedAt, res.TimeSource = ts.Timestamp.UTC(), "tlog"
			break
		}
		if res.SignedAt.IsZero() {
			res.SignedAt, res.TimeSource = ts.Timestamp.UTC(), "tsa"
		}
	}
	if entries, err := e.TlogEntries(); err == nil && len(entries) > 0 {
		res.LogIndex = entries[0].LogIndex()
	}
	return res, nil
}

// isPackageName reports whether n is a conda package's file name: a base
// name ending in .conda or .tar.bz2.
func isPackageName(n string) bool {
	return n != "" && path.Base(n) == n && !strings.ContainsRune(n, '\\') &&
		(strings.HasSuffix(n, ".conda") && len(n) > len(".conda") || strings.HasSuffix(n, ".tar.bz2") && len(n) > len(".tar.bz2"))
}

// jsonLines counts the lines of data that look like JSON objects.
func jsonLines(data []byte) int {
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "{") && strings.HasSuffix(strings.TrimSpace(line), "}") {
			n++
		}
	}
	return n
}

func quoteList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

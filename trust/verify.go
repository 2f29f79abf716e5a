package trust

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"time"
)

// Mode selects which signature form a threshold check counts (spec §7).
type Mode int

const (
	// ModeRaw counts raw Ed25519 signatures over the canonical bytes. It is
	// the mode for key_mgr, pkg_mgr and package records.
	ModeRaw Mode = iota
	// ModeOpenPGP counts only OpenPGP-style signatures. It is the mode for
	// root metadata.
	ModeOpenPGP
	// ModeAnyForm counts both forms, each verified by its own formula, as
	// libmamba does. It is an extension the reference does not accept and
	// is never the default.
	ModeAnyForm
)

func (m Mode) String() string {
	switch m {
	case ModeRaw:
		return "raw"
	case ModeOpenPGP:
		return "OpenPGP-style"
	}
	return "raw or OpenPGP-style"
}

// ModeFor returns the signature mode the reference uses for a role.
func ModeFor(role string) Mode {
	if role == RoleRoot {
		return ModeOpenPGP
	}
	return ModeRaw
}

// Ignored is a signature entry that did not count, and why.
type Ignored struct {
	KeyID  string
	Reason string
}

// ThresholdResult is the outcome of counting signatures against a
// delegation.
type ThresholdResult struct {
	Mode       Mode
	Threshold  int
	Authorized []PublicKey // the delegation's keys
	Valid      []PublicKey // distinct authorized keys whose signature verified
	Ignored    []Ignored   // every other entry
}

// Met reports whether enough authorized keys signed.
func (r ThresholdResult) Met() bool { return len(r.Valid) >= r.Threshold }

// Summary describes the counts in words.
func (r ThresholdResult) Summary() string {
	s := fmt.Sprintf("%d of %d required %s signatures from %d authorized key(s)",
		len(r.Valid), r.Threshold, r.Mode, len(r.Authorized))
	if len(r.Ignored) > 0 {
		reasons := make([]string, len(r.Ignored))
		for i, ig := range r.Ignored {
			reasons[i] = shortID(ig.KeyID) + ": " + ig.Reason
		}
		s += "; not counted: " + strings.Join(reasons, "; ")
	}
	return s
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// CheckThreshold counts the distinct keys of d that validly signed env
// (spec §8). Entries by unknown keys, of the wrong form for mode, malformed
// or not verifying are skipped and listed in Ignored; they never cause an
// error by themselves. It is [CheckSignatures] over the envelope's signed
// bytes and entries, with no memo.
func CheckThreshold(env *Envelope, d Delegation, mode Mode) ThresholdResult {
	return CheckSignatures(env.SignedBytes(), env.Signatures(), d, mode, nil)
}

func verifyEntry(k PublicKey, data []byte, s Signature, mode Mode) bool {
	if s.Form == FormOpenPGP && mode != ModeRaw {
		d := OpenPGPDigest(data, s.OtherHeaders)
		return ed25519.Verify(k[:], d[:], s.Sig)
	}
	// In raw mode an OpenPGP-shaped entry is verified as a raw signature
	// over the canonical bytes, as the reference does; it then fails.
	return ed25519.Verify(k[:], data, s.Sig)
}

// Options control the policy of verification.
type Options struct {
	// At is the reference time for expiry; the zero value means now.
	At time.Time
	// AllowExpired waives expiry. The waiver is reported in
	// [Report.Warnings]; it never hides the fact.
	AllowExpired bool
	// AnyForm counts raw and OpenPGP-style signatures for every role
	// (libmamba's behaviour). Off by default; reported when used.
	AnyForm bool
	// AllowSharedKeys accepts metadata in which one key holds two roles
	// (see [CheckDistinctRoles]). Off by default; reported when used.
	AllowSharedKeys bool
	// AllowKeyMgrRollback accepts a key_mgr older than the one trusted
	// before (see [Chain.SetKeyMgr]). Off by default; reported when used.
	AllowKeyMgrRollback bool
}

func (o Options) at() time.Time {
	if o.At.IsZero() {
		return time.Now()
	}
	return o.At
}

func (o Options) mode(role string) Mode {
	if o.AnyForm {
		return ModeAnyForm
	}
	return ModeFor(role)
}

// Check is one threshold check performed during verification.
type Check struct {
	Against string // which delegation, e.g. "trusted root v1: root keys"
	Result  ThresholdResult
}

// Report describes what a verification looked at.
type Report struct {
	Subject  string // e.g. "root v2"
	Checks   []Check
	Expires  time.Time
	Expired  bool     // expired at the reference time (and waived, if no error)
	Warnings []string // waivers and anything else a user must see
}

func (r *Report) threshold(role, against string, env *Envelope, d Delegation, mode Mode) error {
	res := CheckThreshold(env, d, mode)
	r.Checks = append(r.Checks, Check{Against: against, Result: res})
	if res.Met() {
		return nil
	}
	return &VerificationError{Role: role, Rule: RuleThreshold,
		Detail: fmt.Sprintf("not signed by a threshold of %s: %s", against, res.Summary())}
}

func (r *Report) expiry(m *Metadata, opts Options) error {
	at := opts.at()
	r.Expires = m.Expiration
	if !m.Expired(at) {
		return nil
	}
	r.Expired = true
	msg := fmt.Sprintf("%s expired at %s (reference time %s)", m.Name(), FormatTime(m.Expiration), FormatTime(at))
	if opts.AllowExpired {
		r.Warnings = append(r.Warnings, "WARNING: "+msg+"; accepted only because expiry checks were explicitly waived")
		return nil
	}
	return &VerificationError{Role: m.Name(), Rule: RuleExpired,
		Detail: fmt.Sprintf("expired at %s (reference time %s)", FormatTime(m.Expiration), FormatTime(at))}
}

func (r *Report) anyForm(opts Options) {
	if opts.AnyForm {
		r.Warnings = append(r.Warnings, "WARNING: counting both raw and OpenPGP-style signatures for every role; conda and conda-content-trust do not")
	}
}

// VerifyRoot checks a root that is to be trusted on its own, such as the
// initial root of a channel (spec §10.3): it must be well formed, be
// signed by a threshold of its own root keys and, unless waived, not be
// expired at the reference time. Set checkExpiry to false for a root that
// is only the start of a chain walk (an intermediate root may have
// expired).
func VerifyRoot(root *Metadata, opts Options, checkExpiry bool) (*Report, error) {
	r := &Report{Subject: root.Name(), Expires: root.Expiration}
	r.anyForm(opts)
	if root.Type != RoleRoot {
		return r, &VerificationError{Role: root.Name(), Rule: RuleType, Detail: fmt.Sprintf("document has type %q, expected \"root\"", root.Type)}
	}
	if err := r.threshold(root.Name(), fmt.Sprintf("its own root keys (%s)", root.Name()), root.Envelope, root.Delegations[RoleRoot], opts.mode(RoleRoot)); err != nil {
		return r, err
	}
	if checkExpiry {
		if err := r.expiry(root, opts); err != nil {
			return r, err
		}
	}
	return r, nil
}

// VerifyRootUpdate checks candidate as the successor of the trusted root
// (spec §10.1): its version must be exactly trusted.Version+1, and it must
// be signed by a threshold of the trusted root's root keys AND by a
// threshold of its own root keys. Expiry is not checked here: only the
// newest root of a chain must be unexpired, which the caller checks with
// [CheckExpiry] once the walk ends.
func VerifyRootUpdate(trusted, candidate *Metadata, opts Options) (*Report, error) {
	r := &Report{Subject: candidate.Name(), Expires: candidate.Expiration}
	r.anyForm(opts)
	name := candidate.Name()
	if candidate.Type != RoleRoot {
		return r, &VerificationError{Role: name, Rule: RuleType, Detail: fmt.Sprintf("document has type %q, expected \"root\"", candidate.Type)}
	}
	if candidate.Version != trusted.Version+1 {
		why := "skips a version"
		if candidate.Version <= trusted.Version {
			why = "would roll back"
		}
		return r, &VerificationError{Role: name, Rule: RuleVersion,
			Detail: fmt.Sprintf("version %d does not follow the trusted root v%d (exactly v%d is required; this %s)",
				candidate.Version, trusted.Version, trusted.Version+1, why)}
	}
	mode := opts.mode(RoleRoot)
	if err := r.threshold(name, fmt.Sprintf("the trusted %s's root keys", trusted.Name()), candidate.Envelope, trusted.Delegations[RoleRoot], mode); err != nil {
		return r, err
	}
	if err := r.threshold(name, fmt.Sprintf("its own root keys (%s)", name), candidate.Envelope, candidate.Delegations[RoleRoot], mode); err != nil {
		return r, err
	}
	return r, nil
}

// VerifyDelegated checks a key_mgr document against a root, or a pkg_mgr
// document against a key_mgr (spec §11): the trusting document must
// delegate the candidate's role, the candidate must have that type and be
// signed by a threshold of the delegated keys, and, unless waived, neither
// may be expired at the reference time.
func VerifyDelegated(trusting, candidate *Metadata, opts Options) (*Report, error) {
	r := &Report{Subject: candidate.Name(), Expires: candidate.Expiration}
	r.anyForm(opts)
	var role string
	switch trusting.Type {
	case RoleRoot:
		role = RoleKeyMgr
	case RoleKeyMgr:
		role = RolePkgMgr
	default:
		return r, &VerificationError{Role: candidate.Name(), Rule: RuleDelegation,
			Detail: fmt.Sprintf("a %s document delegates to no metadata role", trusting.Type)}
	}
	if candidate.Type != role {
		return r, &VerificationError{Role: candidate.Name(), Rule: RuleType,
			Detail: fmt.Sprintf("document has type %q, but %s delegates %q", candidate.Type, trusting.Name(), role)}
	}
	d, ok := trusting.Delegations[role]
	if !ok {
		return r, &VerificationError{Role: candidate.Name(), Rule: RuleDelegation,
			Detail: fmt.Sprintf("%s has no %q delegation", trusting.Name(), role)}
	}
	if err := r.threshold(candidate.Name(), fmt.Sprintf("the %s keys of %s", role, trusting.Name()), candidate.Envelope, d, opts.mode(role)); err != nil {
		return r, err
	}
	if err := r.expiry(trusting, opts); err != nil {
		return r, err
	}
	if err := r.expiry(candidate, opts); err != nil {
		return r, err
	}
	return r, nil
}

// CheckExpiry refuses m if it is expired at the reference time, unless
// expiry is waived; a waiver is recorded in the report's warnings.
func CheckExpiry(m *Metadata, opts Options, r *Report) error {
	if r == nil {
		r = &Report{}
	}
	return r.expiry(m, opts)
}

// CheckNotRollback refuses a candidate whose version is lower than the
// highest version already trusted for its role.
func CheckNotRollback(stored, candidate *Metadata) error {
	if candidate.Version < stored.Version {
		return &VerificationError{Role: candidate.Name(), Rule: RuleRollback,
			Detail: fmt.Sprintf("version %d is lower than the already trusted %s (rollback)", candidate.Version, stored.Name())}
	}
	return nil
}

// SignatureValid reports whether the entry s verifies under its own key
// identifier in the given mode, whether or not that key is authorized for
// anything. It is for display (which signatures are good); trust decisions
// use [CheckThreshold].
func SignatureValid(env *Envelope, s Signature, mode Mode) bool {
	k, err := ParsePublicKey(s.KeyID)
	if err != nil || s.Form == FormMalformed || (mode == ModeOpenPGP && s.Form != FormOpenPGP) {
		return false
	}
	return verifyEntry(k, env.SignedBytes(), s, mode)
}

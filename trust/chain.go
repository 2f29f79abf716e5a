package trust

import (
	"errors"
	"fmt"
	"time"
)

// Chain holds the verified trust of one channel: the newest trusted root
// and the key_mgr verified against it. It does no I/O; callers fetch or
// read documents and hand them over, in order, and the Chain decides.
// Every caller in this project (the client's update and offline load, the
// CLI's verify-metadata, verify-repodata and verify-package, the demo)
// builds its trust through a Chain, so the rules below are written once.
//
// The rules, in the order the Chain enforces them:
//
//  1. Pin ([NewChain]): the pinned root, obtained by the user out of band,
//     must be a well-formed root (spec version 0.6.x, no weak key: see
//     [CheckPublicKey]) signed by a threshold of its own root keys
//     (OpenPGP-style), and its root and key_mgr keys must be distinct
//     ([CheckDistinctRoles]). Its expiry is not checked yet: a pinned root
//     may be the start of a walk to a newer one.
//  2. Root updates ([Chain.UpdateRoot]), any number, each the next file
//     N+1.root.json: version exactly N+1, signed by a threshold of root
//     N's root keys AND of its own root keys, distinct roles as in 1. An
//     intermediate root may have expired.
//  3. End of the walk ([Chain.EndRoots]): the newest root must not be
//     expired at the reference time. After this, root updates are an
//     error.
//  4. key_mgr ([Chain.SetKeyMgr]): type key_mgr, the same spec version as
//     the root, signed by a threshold of the root's key_mgr keys (raw),
//     neither expired, its pkg_mgr keys distinct from the root's root
//     and key_mgr keys.
//  5. Rollback: its version must not be lower than the key_mgr trusted
//     before (given by the caller from its store).
//  6. Records ([Chain.PkgMgr]): only now is the pkg_mgr delegation
//     available to verify package records (package repodata).
//
// Waivers in [Options] (expiry, shared keys, key_mgr rollback, any
// signature form) are explicit and each one used is reported in
// [Chain.Warnings].
type Chain struct {
	opts     Options
	root     *Metadata
	pinned   int64
	added    []int64
	keyMgr   *Metadata
	anchorKM bool // the chain starts at a key_mgr taken as the trust anchor
	stage    stage
	reports  []*Report
	warnings []string
}

type stage int

const (
	stageRoots  stage = iota // walking root updates
	stageRootOK              // the newest root is final and unexpired
	stageKeyMgr              // key_mgr verified: records can be checked
)

// ErrChainOrder is matched by errors for a Chain used out of order (a
// root update after the walk ended, a key_mgr before it, records before a
// key_mgr). It is a programming error, not a verdict on any document.
var ErrChainOrder = errors.New("trust chain used out of order")

// NewChain starts a chain at a pinned root (rule 1).
func NewChain(pinned *Metadata, opts Options) (*Chain, error) {
	c := &Chain{opts: opts}
	rep, err := VerifyRoot(pinned, opts, false)
	c.note(rep)
	if err != nil {
		return c, err
	}
	if err := c.distinct(pinned, nil); err != nil {
		return c, err
	}
	c.root, c.pinned = pinned, pinned.Version
	return c, nil
}

// NewChainFromKeyMgr starts a chain at a key_mgr taken as the trust anchor
// without a root, for a user who holds a key_mgr they trust for other
// reasons (and for key_mgr -> pkg_mgr checks). Its expiry is checked; its
// signatures are not, since nothing says which keys should have made them.
// A warning says that no root was checked.
func NewChainFromKeyMgr(keyMgr *Metadata, opts Options) (*Chain, error) {
	c := &Chain{opts: opts, stage: stageRootOK, anchorKM: true}
	if keyMgr.Type != RoleKeyMgr {
		return c, &VerificationError{Role: keyMgr.Name(), Rule: RuleType,
			Detail: fmt.Sprintf("document has type %q, expected \"key_mgr\"", keyMgr.Type)}
	}
	rep := &Report{Subject: keyMgr.Name(), Expires: keyMgr.Expiration}
	rep.Warnings = append(rep.Warnings, fmt.Sprintf("WARNING: %s is taken as the trust anchor: no root verified it", keyMgr.Name()))
	err := rep.expiry(keyMgr, opts)
	c.note(rep)
	if err != nil {
		return c, err
	}
	c.keyMgr, c.stage = keyMgr, stageKeyMgr
	return c, nil
}

// UpdateRoot verifies next as the successor of the newest trusted root
// (rule 2) and, if it passes, makes it the newest trusted root.
func (c *Chain) UpdateRoot(next *Metadata) (*Report, error) {
	if c.root == nil || c.stage != stageRoots {
		return nil, fmt.Errorf("%w: a root update after the root walk ended", ErrChainOrder)
	}
	rep, err := VerifyRootUpdate(c.root, next, c.opts)
	c.note(rep)
	if err != nil {
		return rep, err
	}
	if err := c.distinct(next, nil); err != nil {
		return rep, err
	}
	c.root = next
	c.added = append(c.added, next.Version)
	return rep, nil
}

// EndRoots ends the root walk (rule 3): the newest root must not be
// expired. Calling it again does nothing.
func (c *Chain) EndRoots() (*Report, error) {
	if c.stage != stageRoots {
		return nil, nil
	}
	if c.root == nil {
		return nil, fmt.Errorf("%w: no pinned root", ErrChainOrder)
	}
	rep := &Report{Subject: c.root.Name(), Expires: c.root.Expiration}
	err := rep.expiry(c.root, c.opts)
	c.note(rep)
	if err != nil {
		return rep, err
	}
	c.stage = stageRootOK
	return rep, nil
}

// SetKeyMgr verifies km against the newest root (rules 4 and 5) and
// makes its pkg_mgr delegation the one records are checked against.
// previous is the key_mgr trusted before (from the caller's store), nil
// if none. Root updates must have ended ([Chain.EndRoots] is called if
// it was not).
func (c *Chain) SetKeyMgr(km, previous *Metadata) (*Report, error) {
	if c.anchorKM || c.stage == stageKeyMgr {
		return nil, fmt.Errorf("%w: the chain already has a key_mgr", ErrChainOrder)
	}
	if rep, err := c.EndRoots(); err != nil {
		return rep, err
	}
	rep, err := VerifyDelegated(c.root, km, c.opts)
	c.note(rep)
	if err != nil {
		return rep, err
	}
	if km.SpecVersion != c.root.SpecVersion {
		return rep, &VerificationError{Role: km.Name(), Rule: RuleSpecVersion,
			Detail: fmt.Sprintf("metadata_spec_version %q differs from the root's %q", km.SpecVersion, c.root.SpecVersion)}
	}
	if err := c.distinct(c.root, km); err != nil {
		return rep, err
	}
	if previous != nil && km.Version < previous.Version {
		rerr := &VerificationError{Role: km.Name(), Rule: RuleRollback,
			Detail: fmt.Sprintf("version %d is lower than the already trusted %s (rollback)", km.Version, previous.Name())}
		if !c.opts.AllowKeyMgrRollback {
			return rep, rerr
		}
		c.warn(fmt.Sprintf("WARNING: %s; accepted for this operation only because key_mgr rollback was explicitly allowed", rerr))
	}
	c.keyMgr, c.stage = km, stageKeyMgr
	return rep, nil
}

// PkgMgr returns the pkg_mgr delegation package records are verified
// against (rule 6). It is an error before a key_mgr was verified.
func (c *Chain) PkgMgr() (Delegation, error) {
	if c.stage != stageKeyMgr {
		return Delegation{}, fmt.Errorf("%w: no verified key_mgr yet", ErrChainOrder)
	}
	d, ok := c.keyMgr.Delegations[RolePkgMgr]
	if !ok {
		return Delegation{}, &VerificationError{Role: c.keyMgr.Name(), Rule: RuleDelegation,
			Detail: "this key_mgr delegates no pkg_mgr keys"}
	}
	return d, nil
}

// VerifyPkgMgr checks a pkg_mgr document (the pkg_mgr.json libmamba
// publishes) against the chain's key_mgr: threshold, type, expiry.
func (c *Chain) VerifyPkgMgr(pm *Metadata) (*Report, error) {
	if c.stage != stageKeyMgr {
		return nil, fmt.Errorf("%w: no verified key_mgr yet", ErrChainOrder)
	}
	rep, err := VerifyDelegated(c.keyMgr, pm, c.opts)
	c.note(rep)
	return rep, err
}

// Expires returns when the chain's trust ends: the earlier of the
// expirations of its newest root and its key_mgr. It is zero before
// [Chain.SetKeyMgr].
func (c *Chain) Expires() time.Time {
	if c.stage != stageKeyMgr {
		return time.Time{}
	}
	exp := c.keyMgr.Expiration
	if c.root != nil && c.root.Expiration.Before(exp) {
		exp = c.root.Expiration
	}
	return exp
}

// CheckUnexpired is for a verifier that keeps a chain between updates (a
// long-running server): it refuses (rule [RuleExpired]) a chain whose
// newest root or key_mgr has expired at at, unless the chain's options
// waive expiry. The chain's checks ran when it was built; time has moved
// on since.
func (c *Chain) CheckUnexpired(at time.Time) error {
	if c.stage != stageKeyMgr {
		return fmt.Errorf("%w: no verified key_mgr yet", ErrChainOrder)
	}
	for _, m := range []*Metadata{c.root, c.keyMgr} {
		if m == nil || !m.Expired(at) || c.opts.AllowExpired {
			continue
		}
		return &VerificationError{Role: m.Name(), Rule: RuleExpired,
			Detail: fmt.Sprintf("expired at %s (reference time %s); the upstream has no newer one", FormatTime(m.Expiration), FormatTime(at))}
	}
	return nil
}

// Root returns the newest trusted root (nil for a chain anchored at a
// key_mgr).
func (c *Chain) Root() *Metadata { return c.root }

// KeyMgr returns the verified key_mgr, nil before [Chain.SetKeyMgr].
func (c *Chain) KeyMgr() *Metadata {
	if c.stage != stageKeyMgr {
		return nil
	}
	return c.keyMgr
}

// RootsAdded lists the root versions accepted by [Chain.UpdateRoot].
func (c *Chain) RootsAdded() []int64 { return c.added }

// Reports returns the report of every verification step, in order.
func (c *Chain) Reports() []*Report { return c.reports }

// Warnings returns every waiver used, once each, in order.
func (c *Chain) Warnings() []string { return c.warnings }

func (c *Chain) note(rep *Report) {
	if rep == nil {
		return
	}
	c.reports = append(c.reports, rep)
	for _, w := range rep.Warnings {
		c.warn(w)
	}
}

func (c *Chain) warn(w string) {
	for _, x := range c.warnings {
		if x == w {
			return
		}
	}
	c.warnings = append(c.warnings, w)
}

// distinct applies CheckDistinctRoles to a root (and a key_mgr), unless
// waived.
func (c *Chain) distinct(root, km *Metadata) error {
	roles := []RoleKeys{
		{RoleRoot, root.Delegations[RoleRoot].Keys},
		{RoleKeyMgr, root.Delegations[RoleKeyMgr].Keys},
	}
	if km != nil {
		roles = append(roles, RoleKeys{RolePkgMgr, km.Delegations[RolePkgMgr].Keys})
	}
	err := CheckDistinctRoles(roles...)
	if err == nil {
		return nil
	}
	if c.opts.AllowSharedKeys {
		c.warn(fmt.Sprintf("WARNING: %v; accepted only because shared keys were explicitly allowed", err))
		return nil
	}
	return err
}

// CheckRootFile refuses a root read from a file named N.root.json (a
// channel's, or a trust store's) whose signed version is not N: a file
// renamed to look newer or older than it is.
func CheckRootFile(n int64, root *Metadata) error {
	if root.Version != n {
		return &VerificationError{Role: root.Name(), Rule: RuleVersion,
			Detail: fmt.Sprintf("stored as %d.root.json but its signed version is %d", n, root.Version)}
	}
	return nil
}

// CheckRepin decides whether candidate may replace the root pinned
// before, stored, when a user pins a channel again: a lower version is a
// rollback (rule [RuleRollback]); the same version must have the very
// same signed bytes (rule [RuleVersion]); a higher version is refused
// too, since pinning it would skip the verified chain from stored (rule
// [RuleVersion]: follow the chain with root updates instead).
func CheckRepin(stored, candidate *Metadata) error {
	switch {
	case candidate.Version < stored.Version:
		return &VerificationError{Role: candidate.Name(), Rule: RuleRollback,
			Detail: fmt.Sprintf("version %d is lower than the already pinned %s (rollback)", candidate.Version, stored.Name())}
	case candidate.Version > stored.Version:
		return &VerificationError{Role: candidate.Name(), Rule: RuleVersion,
			Detail: fmt.Sprintf("the channel is already pinned at %s; pinning %s would replace it without verifying the chain between them", stored.Name(), candidate.Name())}
	case string(candidate.Envelope.SignedBytes()) != string(stored.Envelope.SignedBytes()):
		return &VerificationError{Role: candidate.Name(), Rule: RuleVersion,
			Detail: fmt.Sprintf("differs from the %s already pinned with the same version", stored.Name())}
	}
	return nil
}

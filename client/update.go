package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/condatrust/condatrust/trust"
)

// Limits bound what the client fetches. Zero values take the defaults.
type Limits struct {
	// MaxRootUpdates is the most root versions accepted in one update.
	// Default 256.
	MaxRootUpdates int
	// MaxMetadataSize caps each N.root.json and key_mgr.json. Default
	// 512 KiB.
	MaxMetadataSize int64
	// MaxRepodataSize caps repodata.json, compressed and decompressed.
	// Default 1 GiB (conda-forge's largest subdir is about 260 MB).
	MaxRepodataSize int64
	// MaxUnsignedSize caps the download of a package whose record gives
	// no size (only possible for records accepted without a signature).
	// Default 4 GiB. A record's signed size is always the cap when present.
	MaxUnsignedSize int64
}

// Default limits.
const (
	DefaultMaxRootUpdates  = 256
	DefaultMaxMetadataSize = 512 << 10
	DefaultMaxRepodataSize = 1 << 30
	DefaultMaxUnsignedSize = 4 << 30
)

func (l Limits) withDefaults() Limits {
	if l.MaxRootUpdates <= 0 {
		l.MaxRootUpdates = DefaultMaxRootUpdates
	}
	if l.MaxMetadataSize <= 0 {
		l.MaxMetadataSize = DefaultMaxMetadataSize
	}
	if l.MaxRepodataSize <= 0 {
		l.MaxRepodataSize = DefaultMaxRepodataSize
	}
	if l.MaxUnsignedSize <= 0 {
		l.MaxUnsignedSize = DefaultMaxUnsignedSize
	}
	return l
}

// Client verifies channels against a [Store], reaching them through a
// [Fetcher]. Build the trust state of a channel once per operation
// ([Client.Update] or [Client.Load]) and verify every record with it.
type Client struct {
	Fetcher Fetcher
	Store   *Store
	// Policy sets the reference time for expiry and the explicit waivers
	// (expired metadata, any signature form). Waivers are reported in
	// [State.Warnings].
	Policy trust.Options
	Limits Limits
	// AllowKeyMgrRollback accepts a key_mgr older than the stored one for
	// this operation only (it is not stored), with a warning.
	AllowKeyMgrRollback bool
}

// State is the verified trust state of one channel.
type State struct {
	Channel *Channel
	// Root is the newest trusted root, verified and not expired (unless
	// waived).
	Root *trust.Metadata
	// KeyMgr is the key_mgr verified against Root, not expired (unless
	// waived) and not older than the one stored before.
	KeyMgr *trust.Metadata
	// RootsAdded lists the root versions fetched, verified and stored by
	// this update.
	RootsAdded []int64
	// PreviousKeyMgr is the version of the key_mgr stored before this
	// update, 0 if none.
	PreviousKeyMgr int64
	// Warnings are the waivers used and anything else a user must see.
	Warnings []string
}

func (s *State) warn(rep *trust.Report) {
	if rep == nil {
		return
	}
	for _, w := range rep.Warnings {
		if !contains(s.Warnings, w) {
			s.Warnings = append(s.Warnings, w)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Update brings the trust state of a pinned channel up to date from its
// metadata URL and returns it. The rules, in order:
//
//  1. The newest stored root is loaded ([Channel.Root]): the file named
//     exactly N.root.json with the highest N, whose signed version must
//     be N and which must be signed by a threshold of its own root keys.
//     Its expiry is not checked yet.
//  2. <base>/<N+1>.root.json is fetched, at most Limits.MaxMetadataSize
//     bytes. Not found ends the walk. Any other fetch error ends the
//     update with that error: a server that fails is not taken to have
//     no newer root.
//  3. The candidate must be a well-formed root whose version is exactly
//     N+1, signed by a threshold of the trusted root's root keys AND by a
//     threshold of its own root keys. An intermediate root may have
//     expired: expiry is only checked for the final root. A candidate
//     that fails is refused with its rule; it is never skipped, and the
//     walk does not go on past it.
//  4. The candidate is written to the store as <N+1>.root.json
//     (canonical, atomically) and becomes the trusted root; back to 2.
//     After Limits.MaxRootUpdates accepted roots the update fails with
//     [ErrTooManyRoots].
//  5. The final root must not be expired at the reference time, unless
//     the policy waives expiry (reported in the warnings).
//  6. <base>/key_mgr.json is fetched, at most Limits.MaxMetadataSize
//     bytes. Not found is a refusal (rule "missing"): a channel that
//     publishes a root but no key_mgr cannot vouch for any package.
//  7. It must be a well-formed key_mgr, signed by a threshold of the final
//     root's key_mgr keys, and neither it nor the root may be expired.
//  8. Its version must not be lower than the stored key_mgr's (rule
//     "rollback"), unless AllowKeyMgrRollback: then it is used for this
//     operation only, not stored, and a warning says so.
//  9. It is written to the store as key_mgr.json (canonical, atomically).
//
// On a refusal the returned State still tells which roots were added
// before it (they were verified and stay stored).
func (c *Client) Update(ctx context.Context, channelURL string) (*State, error) {
	lim := c.Limits.withDefaults()
	ch, err := c.Store.Channel(channelURL)
	if err != nil {
		return nil, err
	}
	st := &State{Channel: ch}
	root, err := ch.Root(c.Policy)
	if err != nil {
		return st, err
	}
	oldKM, err := ch.StoredKeyMgr()
	if err != nil {
		return st, err
	}
	if oldKM != nil {
		st.PreviousKeyMgr = oldKM.Version
	}
	for {
		next := root.Version + 1
		u := joinURL(ch.MetadataURL, strconv.FormatInt(next, 10)+".root.json")
		data, err := readAllLimited(ctx, c.fetcher(), u, lim.MaxMetadataSize)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			return st, err
		}
		if len(st.RootsAdded) >= lim.MaxRootUpdates {
			return st, fmt.Errorf("%s: %w: %d roots accepted in one update (limit %d); run the update again to continue",
				u, ErrTooManyRoots, len(st.RootsAdded), lim.MaxRootUpdates)
		}
		cand, err := trust.ParseMetadata(data, trust.RoleRoot)
		if err != nil {
			return st, fmt.Errorf("%s: %w", u, err)
		}
		rep, err := trust.VerifyRootUpdate(root, cand, c.Policy)
		st.warn(rep)
		if err != nil {
			return st, fmt.Errorf("%s: %w", u, err)
		}
		if err := ch.writeRoot(cand); err != nil {
			return st, err
		}
		st.RootsAdded = append(st.RootsAdded, cand.Version)
		root = cand
	}
	rep := &trust.Report{}
	err = trust.CheckExpiry(root, c.Policy, rep)
	st.warn(rep)
	if err != nil {
		return st, err
	}
	st.Root = root

	u := joinURL(ch.MetadataURL, "key_mgr.json")
	data, err := readAllLimited(ctx, c.fetcher(), u, lim.MaxMetadataSize)
	if errors.Is(err, ErrNotFound) {
		return st, refusal(trust.RoleKeyMgr, RuleMissing,
			"%s is not published: without a key_mgr signed by the root's key_mgr keys, no package of %s can be verified", u, ch.URL)
	}
	if err != nil {
		return st, err
	}
	km, err := trust.ParseMetadata(data, trust.RoleKeyMgr)
	if err != nil {
		return st, fmt.Errorf("%s: %w", u, err)
	}
	rep, err = trust.VerifyDelegated(root, km, c.Policy)
	st.warn(rep)
	if err != nil {
		return st, fmt.Errorf("%s: %w", u, err)
	}
	store := true
	if rerr := checkRollback(oldKM, km); rerr != nil {
		if !c.AllowKeyMgrRollback {
			return st, fmt.Errorf("%s: %w", u, rerr)
		}
		st.Warnings = append(st.Warnings, fmt.Sprintf("WARNING: %s; accepted for this operation only because key_mgr rollback was explicitly allowed (not stored)", rerr))
		store = false
	}
	if store {
		if err := ch.writeKeyMgr(km); err != nil {
			return st, err
		}
	}
	st.KeyMgr = km
	return st, nil
}

// Load returns the trust state of a pinned channel from the store alone,
// without any network access. The rules, in order:
//
//  1. The newest stored root is loaded as in step 1 of [Client.Update].
//  2. It must not be expired at the reference time (unless waived).
//  3. A key_mgr must be stored (rule "missing" otherwise: run an update).
//  4. The stored key_mgr must be signed by a threshold of that root's
//     key_mgr keys, and neither may be expired: a stored copy is
//     re-verified on every use, since the root may have rotated its keys.
func (c *Client) Load(channelURL string) (*State, error) {
	ch, err := c.Store.Channel(channelURL)
	if err != nil {
		return nil, err
	}
	st := &State{Channel: ch}
	root, err := ch.Root(c.Policy)
	if err != nil {
		return st, err
	}
	rep := &trust.Report{}
	err = trust.CheckExpiry(root, c.Policy, rep)
	st.warn(rep)
	if err != nil {
		return st, err
	}
	st.Root = root
	km, err := ch.StoredKeyMgr()
	if err != nil {
		return st, err
	}
	if km == nil {
		return st, refusal(trust.RoleKeyMgr, RuleMissing,
			"no verified key_mgr is stored for %s: run 'conda-trust trust update %s' while online", ch.URL, ch.URL)
	}
	st.PreviousKeyMgr = km.Version
	rep, err = trust.VerifyDelegated(root, km, c.Policy)
	st.warn(rep)
	if err != nil {
		return st, fmt.Errorf("stored key_mgr.json: %w", err)
	}
	st.KeyMgr = km
	return st, nil
}

func checkRollback(stored, cand *trust.Metadata) error {
	if stored == nil {
		return nil
	}
	return trust.CheckNotRollback(stored, cand)
}

func (c *Client) fetcher() Fetcher {
	if c.Fetcher == nil {
		return NewFetcher(HTTPOptions{})
	}
	return c.Fetcher
}

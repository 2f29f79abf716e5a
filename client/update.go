package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/condatrust/condatrust/repodata"
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
	// SignatureCache, if set, is given to every record verifier of the
	// States this client returns ([repodata.Verifier.Cache]): signatures
	// that verified before are not verified again. A cache kept on disk
	// must be authenticated: see [repodata.FileCache].
	SignatureCache repodata.SignatureCache
}

// State is the verified trust state of one channel.
type State struct {
	Channel *Channel
	// Chain is the channel's verified trust: the newest root and the
	// key_mgr verified against it. Records are verified against it with
	// [State.Verifier].
	Chain *trust.Chain
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

	cache repodata.SignatureCache // the Client's SignatureCache
}

// Verifier returns the verifier of package records for this state: the
// pkg_mgr delegation of its verified key_mgr.
func (s *State) Verifier() (*repodata.Verifier, error) {
	v, err := repodata.NewVerifier(s.Chain)
	if err != nil {
		return nil, err
	}
	v.Cache = s.cache
	return v, nil
}

func (s *State) warnAll(ws []string) {
	for _, w := range ws {
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

func (c *Client) policy() trust.Options {
	p := c.Policy
	p.AllowKeyMgrRollback = p.AllowKeyMgrRollback || c.AllowKeyMgrRollback
	return p
}

// Update brings the trust state of a pinned channel up to date from its
// metadata URL and returns it. The trust rules are those of
// [trust.Chain], applied in its order; this method does the fetching and
// storing around them:
//
//  1. The newest stored root is loaded ([Channel.Root]) and pinned as the
//     start of the chain ([trust.NewChain]).
//  2. <base>/<N+1>.root.json is fetched, at most Limits.MaxMetadataSize
//     bytes. Not found ends the walk. Any other fetch error ends the
//     update with that error: a server that fails is not taken to have
//     no newer root.
//  3. The candidate goes to [trust.Chain.UpdateRoot]. A candidate that
//     is refused ends the update with its rule; it is never skipped.
//  4. An accepted root is written to the store as <N+1>.root.json
//     (canonical, atomically); back to 2. After Limits.MaxRootUpdates
//     accepted roots the update fails with [ErrTooManyRoots].
//  5. The walk ends ([trust.Chain.EndRoots]: the final root must not be
//     expired).
//  6. <base>/key_mgr.json is fetched, at most Limits.MaxMetadataSize
//     bytes. Not found is a refusal (rule "missing"): a channel that
//     publishes a root but no key_mgr cannot vouch for any package.
//  7. It goes to [trust.Chain.SetKeyMgr] with the stored key_mgr as the
//     rollback floor.
//  8. It is written to the store as key_mgr.json (canonical, atomically),
//     unless it is older than the stored one (accepted only by an explicit
//     rollback waiver, for this operation only).
//
// On a refusal the returned State still tells which roots were added
// before it (they were verified and stay stored). The channel's lock (see
// [Store]) is held from step 1 to step 8.
func (c *Client) Update(ctx context.Context, channelURL string) (*State, error) {
	lim := c.Limits.withDefaults()
	ch, unlock, err := c.Store.lockedChannel(ctx, channelURL)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st := &State{Channel: ch, cache: c.SignatureCache}
	root, err := ch.Root()
	if err != nil {
		return st, err
	}
	chain, err := trust.NewChain(root, c.policy())
	st.Chain = chain
	st.warnAll(chain.Warnings())
	if err != nil {
		return st, fmt.Errorf("trust store %s: %w", ch.Dir, err)
	}
	oldKM, err := ch.StoredKeyMgr()
	if err != nil {
		return st, err
	}
	if oldKM != nil {
		st.PreviousKeyMgr = oldKM.Version
	}
	for {
		next := chain.Root().Version + 1
		u := joinURL(ch.MetadataURL, strconv.FormatInt(next, 10)+".root.json")
		data, err := readAllLimited(ctx, c.fetcher(), u, lim.MaxMetadataSize)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			return st, err
		}
		if len(st.RootsAdded) >= lim.MaxRootUpdates {
			return st, fmt.Errorf("%s: %w: %d roots accepted in one update (limit %d); update again to continue",
				u, ErrTooManyRoots, len(st.RootsAdded), lim.MaxRootUpdates)
		}
		cand, err := trust.ParseMetadata(data, trust.RoleRoot)
		if err != nil {
			return st, fmt.Errorf("%s: %w", u, err)
		}
		_, err = chain.UpdateRoot(cand)
		st.warnAll(chain.Warnings())
		if err != nil {
			return st, fmt.Errorf("%s: %w", u, err)
		}
		if err := ch.writeRoot(cand); err != nil {
			return st, err
		}
		st.RootsAdded = append(st.RootsAdded, cand.Version)
	}
	_, err = chain.EndRoots()
	st.warnAll(chain.Warnings())
	if err != nil {
		return st, err
	}
	st.Root = chain.Root()

	u := joinURL(ch.MetadataURL, "key_mgr.json")
	data, err := readAllLimited(ctx, c.fetcher(), u, lim.MaxMetadataSize)
	if errors.Is(err, ErrNotFound) {
		return st, refusal(trust.RoleKeyMgr, trust.RuleMissing,
			"%s is not published: without a key_mgr signed by the root's key_mgr keys, no package of %s can be verified", u, ch.URL)
	}
	if err != nil {
		return st, err
	}
	km, err := trust.ParseMetadata(data, trust.RoleKeyMgr)
	if err != nil {
		return st, fmt.Errorf("%s: %w", u, err)
	}
	_, err = chain.SetKeyMgr(km, oldKM)
	st.warnAll(chain.Warnings())
	if err != nil {
		return st, fmt.Errorf("%s: %w", u, err)
	}
	if oldKM == nil || km.Version >= oldKM.Version {
		if err := ch.writeKeyMgr(km); err != nil {
			return st, err
		}
	} else {
		st.warnAll([]string{fmt.Sprintf("WARNING: key_mgr v%d was used for this operation only and not stored (v%d stays)", km.Version, oldKM.Version)})
	}
	st.KeyMgr = km
	return st, nil
}

// Load returns the trust state of a pinned channel from the store alone,
// without any network access: the newest stored root is pinned
// ([trust.NewChain]), the walk ends at once ([trust.Chain.EndRoots]: it
// must not be expired), and the stored key_mgr goes to
// [trust.Chain.SetKeyMgr]. A stored copy is re-verified on every use,
// since the root may have rotated its keys. No stored key_mgr is a
// refusal with rule "missing": the channel was never updated online.
func (c *Client) Load(channelURL string) (*State, error) {
	ch, err := c.Store.Channel(channelURL)
	if err != nil {
		return nil, err
	}
	st := &State{Channel: ch, cache: c.SignatureCache}
	root, err := ch.Root()
	if err != nil {
		return st, err
	}
	chain, err := trust.NewChain(root, c.policy())
	st.Chain = chain
	st.warnAll(chain.Warnings())
	if err != nil {
		return st, fmt.Errorf("trust store %s: %w", ch.Dir, err)
	}
	_, err = chain.EndRoots()
	st.warnAll(chain.Warnings())
	if err != nil {
		return st, err
	}
	st.Root = chain.Root()
	km, err := ch.StoredKeyMgr()
	if err != nil {
		return st, err
	}
	if km == nil {
		return st, refusal(trust.RoleKeyMgr, trust.RuleMissing,
			"no verified key_mgr is stored for %s: it must be updated online once", ch.URL)
	}
	st.PreviousKeyMgr = km.Version
	_, err = chain.SetKeyMgr(km, nil)
	st.warnAll(chain.Warnings())
	if err != nil {
		return st, fmt.Errorf("stored key_mgr.json: %w", err)
	}
	st.KeyMgr = km
	return st, nil
}

func (c *Client) fetcher() Fetcher {
	if c.Fetcher == nil {
		return NewFetcher(HTTPOptions{})
	}
	return c.Fetcher
}

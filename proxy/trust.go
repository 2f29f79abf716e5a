package proxy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/trust"
)

// channel is one served channel: its upstream, its trust and its
// repodata documents.
type channel struct {
	name string
	url  string // normalized upstream URL
	srv  *Server

	updateMu sync.Mutex // one trust update at a time

	mu      sync.Mutex
	tv      *trustView // the last verified trust, nil before the first
	checked time.Time  // when the last update was attempted
	refused error      // the last update's refusal: fail closed while set
	docs    map[docKey]*doc

	// legacy is set for a Legacy channel: no trust state (tv stays nil),
	// packages verified with conda sign signatures.
	legacy *legacyChannel

	// attestation is Channel.Attestation; attested (under mu) remembers
	// the file + "\x00" + sha256 pairs it accepted.
	attestation func(client.Attestation) error
	attested    map[string]bool
}

// legacyTrust stands for the trust of a legacy channel's repodata: none,
// the same for every fetch.
var legacyTrust = &trustView{gen: "legacy"}

// trustView is a verified trust state and the verifier built from it.
type trustView struct {
	state    *client.State
	verifier *repodata.Verifier
	// gen names the pkg_mgr delegation; a repodata verified under another
	// gen is verified again.
	gen string
}

// expired reports whether the view's trust may no longer be used at now:
// the rule is trust.Chain.CheckUnexpired's.
func (tv *trustView) expired(now time.Time) bool {
	return tv.state.Chain.CheckUnexpired(now) != nil
}

func (s *Server) newTrustView(st *client.State) (*trustView, error) {
	v, err := st.Verifier()
	if err != nil {
		return nil, err
	}
	v.Cache = s.sigs
	v.Keep = true // for repodata.WriteTrusted
	d, err := st.Chain.PkgMgr()
	if err != nil {
		return nil, err
	}
	return &trustView{state: st, verifier: v,
		gen: fmt.Sprintf("root %d key_mgr %d pkg_mgr %v/%d", st.Root.Version, st.KeyMgr.Version, d.Keys, d.Threshold)}, nil
}

func (s *Server) trustClient() *client.Client {
	return &client.Client{
		Fetcher: s.up,
		Store:   s.store,
		Policy:  trust.Options{At: s.cfg.Now()},
		Limits:  client.Limits{MaxRepodataSize: s.cfg.MaxRepodata},
	}
}

// load sets the trust from the store alone (at start, and when an update
// fails for an operational reason before any update succeeded).
func (c *channel) load() error {
	st, err := c.srv.trustClient().Load(c.url)
	if err != nil {
		return err
	}
	tv, err := c.srv.newTrustView(st)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.tv = tv
	c.mu.Unlock()
	return nil
}

// trust returns the channel's verified trust, updating it from the
// upstream ([client.Client.Update]) when the last update is older than
// Config.Refresh. A refusal (trust.ErrVerification) is returned until an
// update succeeds: the channel fails closed. An operational failure
// (network, HTTP error, timeout) keeps the last verified trust while it
// has not expired.
func (c *channel) trust(ctx context.Context) (*trustView, error) {
	now := c.srv.cfg.Now()
	c.mu.Lock()
	tv, refused, fresh := c.tv, c.refused, !c.checked.IsZero() && now.Sub(c.checked) < c.srv.cfg.Refresh
	c.mu.Unlock()
	if !fresh {
		c.updateMu.Lock()
		c.mu.Lock()
		fresh = !c.checked.IsZero() && now.Sub(c.checked) < c.srv.cfg.Refresh
		c.mu.Unlock()
		if !fresh {
			c.update(ctx)
		}
		c.updateMu.Unlock()
		c.mu.Lock()
		tv, refused = c.tv, c.refused
		c.mu.Unlock()
	}
	switch {
	case refused != nil:
		return nil, refused
	case tv == nil:
		return nil, fmt.Errorf("channel %s: no verified trust yet", c.name)
	}
	if err := tv.state.Chain.CheckUnexpired(now); err != nil {
		return nil, err
	}
	return tv, nil
}

// update runs client.Client.Update once; the caller holds updateMu.
func (c *channel) update(ctx context.Context) {
	ctx, cancel := detached(ctx, c.srv.cfg.Deadline)
	defer cancel()
	log := c.srv.cfg.Logger
	st, err := c.srv.trustClient().Update(ctx, c.url)
	var tv *trustView
	if err == nil {
		tv, err = c.srv.newTrustView(st)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked = c.srv.cfg.Now()
	switch {
	case err == nil:
		if c.refused != nil {
			log.Info("channel trust restored", "channel", c.name)
		}
		c.tv, c.refused = tv, nil
		for _, w := range st.Warnings {
			log.Warn(w, "channel", c.name)
		}
	case errors.Is(err, trust.ErrVerification):
		c.refused = fmt.Errorf("channel %s: trust metadata refused: %w", c.name, err)
		rule := client.RuleOf(err)
		c.srv.m.refusals.WithLabelValues(c.name, string(rule)).Inc()
		var ve *trust.VerificationError
		key := ""
		if errors.As(err, &ve) {
			key = ve.Key
		}
		log.Warn("refused", "channel", c.name, "file", metadataFile(err), "rule", string(rule), "key", key, "reason", err.Error())
	default:
		// Not a verdict on the channel: keep what was verified before.
		kind := upstreamErrorKind(err)
		c.srv.m.upstreamErrors.WithLabelValues(c.name, kind).Inc()
		log.Warn("trust update failed; keeping the last verified trust", "channel", c.name, "kind", kind, "error", err.Error())
		if c.tv == nil {
			c.mu.Unlock()
			lerr := c.load()
			c.mu.Lock()
			if lerr != nil {
				log.Warn("no stored trust", "channel", c.name, "error", lerr.Error())
			}
		}
	}
}

// metadataFile guesses which trust file an Update error is about, for
// the log line.
func metadataFile(err error) string {
	var ve *trust.VerificationError
	if errors.As(err, &ve) && ve.Role != "" {
		return ve.Role
	}
	return "trust metadata"
}

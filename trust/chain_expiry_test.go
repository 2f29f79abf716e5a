package trust_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// TestChainCheckUnexpired: a chain kept between updates (the proxy) is
// refused once its root or its key_mgr expires, whichever comes first,
// and only once; the waiver of the chain's options applies.
func TestChainCheckUnexpired(t *testing.T) {
	key := func(b byte) *signer.Key { k, _ := signer.NewKey(bytes.Repeat([]byte{b}, 32)); return k }
	rootK, kmK, pkgK := key(1), key(2), key(3)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	build := func(p trust.Params, form trust.Form, exp time.Time, by *signer.Key) *trust.Metadata {
		p.Timestamp, p.Expiration = now, exp
		env, err := trust.Build(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := signer.SignEnvelope(env, by, form, signer.OpenPGPOptions{Created: now}); err != nil {
			t.Fatal(err)
		}
		m, err := trust.MetadataFromEnvelope(env, p.Type)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	rootExp, kmExp := now.AddDate(1, 0, 0), now.AddDate(0, 6, 0)
	root := build(trust.Params{Type: trust.RoleRoot, Version: 1, Delegations: map[string]trust.Delegation{
		trust.RoleRoot:   {Keys: []trust.PublicKey{rootK.Public()}, Threshold: 1},
		trust.RoleKeyMgr: {Keys: []trust.PublicKey{kmK.Public()}, Threshold: 1},
	}}, trust.FormOpenPGP, rootExp, rootK)
	km := build(trust.Params{Type: trust.RoleKeyMgr, Version: 1, Delegations: map[string]trust.Delegation{
		trust.RolePkgMgr: {Keys: []trust.PublicKey{pkgK.Public()}, Threshold: 1},
	}}, trust.FormRaw, kmExp, kmK)

	for _, waive := range []bool{false, true} {
		c, err := trust.NewChain(root, trust.Options{At: now, AllowExpired: waive})
		if err != nil {
			t.Fatal(err)
		}
		if !c.Expires().IsZero() || c.CheckUnexpired(now) == nil {
			t.Error("a chain without key_mgr has an expiry or passes the check")
		}
		if _, err := c.SetKeyMgr(km, nil); err != nil {
			t.Fatal(err)
		}
		if !c.Expires().Equal(kmExp) {
			t.Errorf("Expires %v, want the key_mgr's %v", c.Expires(), kmExp)
		}
		if err := c.CheckUnexpired(kmExp.Add(-time.Second)); err != nil {
			t.Errorf("before expiry: %v", err)
		}
		err = c.CheckUnexpired(kmExp)
		var ve *trust.VerificationError
		switch {
		case waive && err != nil:
			t.Errorf("waived: %v", err)
		case !waive && (!errors.As(err, &ve) || ve.Rule != trust.RuleExpired || ve.Role != "key_mgr v1"):
			t.Errorf("at the key_mgr's expiry: %v, want rule expired for key_mgr v1", err)
		}
	}
}

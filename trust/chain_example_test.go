package trust_test

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// A client pins a channel's root, walks to its newest root, verifies the
// key_mgr against it and gets the pkg_mgr keys records must be signed by.
// The keys are made inline from fixed seeds; real ones come from
// signer.ReadKeyFile.
func ExampleChain() {
	key := func(b byte) *signer.Key { k, _ := signer.NewKey(bytes.Repeat([]byte{b}, 32)); return k }
	root1, root2, keyMgr, pkgMgr := key(1), key(2), key(3), key(4)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	build := func(p trust.Params, form trust.Form, by ...*signer.Key) *trust.Metadata {
		p.Timestamp, p.Expiration = now, now.AddDate(1, 0, 0)
		env, err := trust.Build(p)
		if err != nil {
			panic(err)
		}
		for _, k := range by {
			if err := signer.SignEnvelope(env, k, form, signer.OpenPGPOptions{Created: now}); err != nil {
				panic(err)
			}
		}
		m, _ := trust.MetadataFromEnvelope(env, p.Type)
		return m
	}
	rootFor := func(v int64, k *signer.Key, by ...*signer.Key) *trust.Metadata {
		return build(trust.Params{Type: trust.RoleRoot, Version: v, Delegations: map[string]trust.Delegation{
			trust.RoleRoot:   {Keys: []trust.PublicKey{k.Public()}, Threshold: 1},
			trust.RoleKeyMgr: {Keys: []trust.PublicKey{keyMgr.Public()}, Threshold: 1},
		}}, trust.FormOpenPGP, by...)
	}
	v1 := rootFor(1, root1, root1)
	v2 := rootFor(2, root2, root1, root2) // rotation: signed by the old and the new root key
	km := build(trust.Params{Type: trust.RoleKeyMgr, Version: 1, Delegations: map[string]trust.Delegation{
		trust.RolePkgMgr: {Keys: []trust.PublicKey{pkgMgr.Public()}, Threshold: 1},
	}}, trust.FormRaw, keyMgr)

	opts := trust.Options{At: now.AddDate(0, 1, 0)}
	chain, err := trust.NewChain(v1, opts)
	if err != nil {
		panic(err)
	}
	if _, err := chain.UpdateRoot(v2); err != nil {
		panic(err)
	}
	if _, err := chain.SetKeyMgr(km, nil); err != nil {
		panic(err)
	}
	d, _ := chain.PkgMgr()
	fmt.Println("trusted:", chain.Root().Name(), chain.KeyMgr().Name())
	fmt.Println("records need", d.Threshold, "of", len(d.Keys), "pkg_mgr key(s)")

	// The walk has ended: a root offered now is refused, not skipped to.
	_, err = chain.UpdateRoot(rootFor(3, root2, root2))
	fmt.Println(errors.Is(err, trust.ErrChainOrder))

	// A key_mgr whose pkg_mgr key is also its own signing key is refused.
	bad := build(trust.Params{Type: trust.RoleKeyMgr, Version: 2, Delegations: map[string]trust.Delegation{
		trust.RolePkgMgr: {Keys: []trust.PublicKey{keyMgr.Public()}, Threshold: 1},
	}}, trust.FormRaw, keyMgr)
	chain2, _ := trust.NewChain(v1, opts)
	_, err = chain2.SetKeyMgr(bad, nil)
	var ve *trust.VerificationError
	errors.As(err, &ve)
	fmt.Println(ve.Rule)
	// Output:
	// trusted: root v2 key_mgr v1
	// records need 1 of 1 pkg_mgr key(s)
	// true
	// shared-key
}

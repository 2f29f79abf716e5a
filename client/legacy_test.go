package client_test

import (
	"context"
	"crypto/rsa"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/client/clienttest"
	"github.com/condatrust/condatrust/legacysign"
	"github.com/condatrust/condatrust/trust"
)

var legacyKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := legacysign.GenerateKey(legacysign.KeyOptions{})
	if err != nil {
		panic(err)
	}
	return k
})

// legacyChannel is a channel whose package is signed only with `conda
// sign` (key "MyKey"): its record has "sig": "." and no content-trust
// signature.
func legacyChannel(t *testing.T) (*clienttest.Channel, string) {
	ch := clienttest.New()
	fn := ch.AddPackage("noarch", "old", "1.0", "0")
	ch.SignLegacy("noarch", fn, &legacysign.SigningKey{Name: "MyKey", Key: legacyKey()})
	return ch, fn
}

func legacyPolicy(trusted ...string) *client.LegacyPolicy {
	return &client.LegacyPolicy{Keys: legacysign.KeyMap{"MyKey": &legacyKey().PublicKey}, TrustedKeys: trusted}
}

func TestFetchLegacy(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(ch *clienttest.Channel, fn string)
		policy *client.LegacyPolicy
		reason error
		msg    string
		// downloaded: whether the package itself may be requested before
		// the refusal (only when its bytes decide).
		downloaded bool
	}{
		{name: "valid signature by a key trusted for the channel", policy: legacyPolicy("MyKey")},
		{name: "signing key not trusted for the channel", policy: legacyPolicy("OtherKey"),
			reason: legacysign.ErrKeyNotPinned, msg: `key is not trusted: "MyKey"`},
		{name: "key trusted but not installed", policy: &client.LegacyPolicy{Keys: legacysign.KeyMap{}, TrustedKeys: []string{"MyKey"}},
			reason: legacysign.ErrKeyNotInstalled, msg: "public key does not exist"},
		{name: ".sig missing", policy: legacyPolicy("MyKey"),
			setup:  func(ch *clienttest.Channel, fn string) { ch.SetFile("noarch/"+fn+".sig", nil) },
			reason: legacysign.ErrSignatureMissing, msg: "signature does not exist"},
		{name: "payload replaced, unsigned record updated to match", policy: legacyPolicy("MyKey"), downloaded: true,
			setup: func(ch *clienttest.Channel, fn string) {
				evil := append(ch.File("noarch/"+fn), "trailing"...)
				md5s, sha := clienttest.Digests(evil)
				ch.SetFile("noarch/"+fn, evil)
				ch.EditRecord("noarch", fn, "md5", canonjson.MustString(md5s))
				ch.EditRecord("noarch", fn, "sha256", canonjson.MustString(sha))
				ch.EditRecord("noarch", fn, "size", canonjson.NewInt(int64(len(evil))))
			},
			reason: legacysign.ErrInvalidSignature, msg: "signature is invalid"},
		{name: `"sig" removed from the record does not skip the check`, policy: legacyPolicy("MyKey"),
			setup: func(ch *clienttest.Channel, fn string) {
				ch.SetRecord("noarch", fn, ch.Record("noarch", fn).Without("sig"))
				ch.SetFile("noarch/"+fn+".sig", nil)
			},
			reason: legacysign.ErrSignatureMissing, msg: "signature does not exist"},
		{name: "malformed .sig", policy: legacyPolicy("MyKey"),
			setup:  func(ch *clienttest.Channel, fn string) { ch.SetFile("noarch/"+fn+".sig", []byte("MyKey a b\n")) },
			reason: legacysign.ErrMalformedSig, msg: "malformed signature file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch, fn := legacyChannel(t)
			if tc.setup != nil {
				tc.setup(ch, fn)
			}
			// Legacy rules apply only to a channel not pinned for content
			// trust (see TestFetchPinnedChannelIgnoresLegacy).
			mf := client.NewMemoryFetcher(ch.URLs(memBase))
			c := &client.Client{Fetcher: mf, Store: &client.Store{Dir: t.TempDir()}, Policy: trust.Options{At: ch.Now}}
			out := filepath.Join(t.TempDir(), "out")
			res, err := c.FetchPackage(context.Background(), memBase, "noarch", fn, out, client.FetchOptions{Legacy: tc.policy})
			if tc.reason == nil {
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != client.StatusTrusted || res.Via != "legacy conda sign (key MyKey)" {
					t.Errorf("result %+v", res)
				}
				return
			}
			checkRefusal(t, err, trust.ErrVerification, trust.RuleLegacySignature, tc.msg)
			if !errors.Is(err, tc.reason) {
				t.Errorf("error %q does not match %v", err, tc.reason)
			}
			assertEmpty(t, out)
			if n := mf.Requests(memBase + "/noarch/" + fn); !tc.downloaded && n != 0 {
				t.Errorf("the package was downloaded (%d requests) although the signature file already decided", n)
			}
		})
	}
}

// TestFetchLegacyOnlyChannel: a channel with no content-trust root can be
// used when legacy keys are configured for it.
func TestFetchLegacyOnlyChannel(t *testing.T) {
	ch, fn := legacyChannel(t)
	c := &client.Client{Fetcher: client.NewMemoryFetcher(ch.URLs(memBase)), Store: &client.Store{Dir: t.TempDir()}, Policy: trust.Options{At: ch.Now}}
	out := t.TempDir()
	res, err := c.FetchPackage(context.Background(), memBase, "noarch", fn, out, client.FetchOptions{Legacy: legacyPolicy("MyKey")})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != nil || res.Status != client.StatusTrusted {
		t.Errorf("result %+v", res)
	}
	// Without legacy keys the channel is simply not pinned.
	_, err = c.FetchPackage(context.Background(), memBase, "noarch", fn, t.TempDir(), client.FetchOptions{})
	checkRefusal(t, err, client.ErrNotPinned, "", "channel not pinned")
}

// TestFetchPinnedChannelIgnoresLegacy: a channel pinned for content trust
// whose records lost their signatures is not verified by the weaker legacy
// rules instead, whatever legacy keys are given: the record is unsigned,
// and neither its .sig nor the package is fetched.
func TestFetchPinnedChannelIgnoresLegacy(t *testing.T) {
	ch, fn := legacyChannel(t)
	c, mf := memEnv(t, ch)
	out := filepath.Join(t.TempDir(), "out")
	_, err := c.FetchPackage(context.Background(), memBase, "noarch", fn, out, client.FetchOptions{Legacy: legacyPolicy("MyKey")})
	checkRefusal(t, err, trust.ErrVerification, trust.RuleUnsigned, "no signatures for "+fn)
	assertEmpty(t, out)
	for _, u := range []string{memBase + "/noarch/" + fn, memBase + "/noarch/" + fn + ".sig"} {
		if n := mf.Requests(u); n != 0 {
			t.Errorf("%s requested %d times; a pinned channel must not fall back to legacy signatures", u, n)
		}
	}
}

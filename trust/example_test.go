package trust_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/trust"
)

// A client that trusts root v1 accepts root v2 only if it is signed by a
// threshold of v1's root keys and of its own, then checks the newest root's
// expiry, then verifies key_mgr against it.
func Example() {
	read := func(name string) *trust.Metadata {
		data, err := os.ReadFile(testvectors.Local("vectors/derived/chain-synthetic/repo/" + name))
		if err != nil {
			panic(err)
		}
		m, err := trust.ParseMetadata(data, "")
		if err != nil {
			panic(err)
		}
		return m
	}
	opts := trust.Options{At: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	root := read("1.root.json")
	if _, err := trust.VerifyRoot(root, opts, false); err != nil {
		fmt.Println(err)
		return
	}
	next := read("2.root.json")
	if _, err := trust.VerifyRootUpdate(root, next, opts); err != nil {
		fmt.Println(err)
		return
	}
	if err := trust.CheckExpiry(next, opts, nil); err != nil {
		fmt.Println(err)
		return
	}
	rep, err := trust.VerifyDelegated(next, read("key_mgr.json"), opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(next.Name(), "trusted;", rep.Subject, "trusted")
	for _, c := range rep.Checks {
		fmt.Println(c.Result.Summary())
	}
	// Output:
	// root v2 trusted; key_mgr v1 trusted
	// 2 of 2 required raw signatures from 2 authorized key(s)
}

// Refusals are *VerificationError values that name the role and the rule.
func ExampleVerifyRootUpdate_refused() {
	read := func(rel string) *trust.Metadata {
		data, _ := os.ReadFile(testvectors.Local("vectors/derived/chain-synthetic/" + rel))
		m, err := trust.ParseMetadata(data, trust.RoleRoot)
		if err != nil {
			panic(err)
		}
		return m
	}
	_, err := trust.VerifyRootUpdate(read("repo/1.root.json"), read("bad-root-updates/after-1/2.root.signed-only-by-new-key.json"), trust.Options{})
	var ve *trust.VerificationError
	if errors.As(err, &ve) {
		fmt.Println("rule:", ve.Rule)
		fmt.Println(errors.Is(err, trust.ErrVerification))
	}
	// Output:
	// rule: threshold
	// true
}

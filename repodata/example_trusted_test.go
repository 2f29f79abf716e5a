package repodata_test

import (
	"bytes"
	"fmt"
	"log"
	"regexp"
	"strings"
	"time"

	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// A verifying proxy re-verifies upstream repodata with a signature cache
// and serves only the trusted records.
func ExampleWriteTrusted() {
	keyMgrKey, _ := signer.NewKey(bytes.Repeat([]byte{1}, 32))
	pkgMgrKey, _ := signer.NewKey(bytes.Repeat([]byte{2}, 32))
	env, err := trust.Build(trust.Params{
		Type: trust.RoleKeyMgr, Version: 1,
		Timestamp:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Expiration: time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		Delegations: map[string]trust.Delegation{
			trust.RolePkgMgr: {Keys: []trust.PublicKey{pkgMgrKey.Public()}, Threshold: 1},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := signer.SignEnvelope(env, keyMgrKey, trust.FormRaw, signer.OpenPGPOptions{}); err != nil {
		log.Fatal(err)
	}
	keyMgr, err := trust.MetadataFromEnvelope(env, trust.RoleKeyMgr)
	if err != nil {
		log.Fatal(err)
	}
	chain, err := trust.NewChainFromKeyMgr(keyMgr, trust.Options{At: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		log.Fatal(err)
	}

	// Upstream signs one record; a second is added later, unsigned.
	f, _ := repodata.Parse([]byte(`{"info": {"subdir": "noarch"}, "packages": {
	  "a-1.0-0.tar.bz2": {"name": "a", "version": "1.0", "build": "0", "depends": []}},
	  "repodata_version": 1}`))
	var signed bytes.Buffer
	if _, err := repodata.Sign(&signed, f, repodata.SignOptions{Signers: []signer.Signer{pkgMgrKey}, Compact: true}); err != nil {
		log.Fatal(err)
	}
	upstream := strings.Replace(signed.String(), `"packages":{`,
		`"packages":{"b-1.0-0.tar.bz2":{"build":"0","name":"b","version":"1.0"},`, 1)

	v, err := repodata.NewVerifier(chain)
	if err != nil {
		log.Fatal(err)
	}
	cache := repodata.NewMemoryCache(1 << 20) // kept across refreshes
	v.Cache = cache
	v.Keep = true // for WriteTrusted
	var out bytes.Buffer
	for refresh := range 2 { // the second verifies no signature again
		served, err := repodata.Parse([]byte(upstream))
		if err != nil {
			log.Fatal(err)
		}
		rep, err := v.Verify(served)
		if err != nil {
			log.Fatal(err)
		}
		out.Reset()
		n, err := repodata.WriteTrusted(&out, served, rep)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("refresh %d: %d of %d records trusted, %d signature(s) cached\n", refresh, n, served.Len(), cache.Len())
	}
	fmt.Println(regexp.MustCompile(`[0-9a-f]{128}`).ReplaceAllString(out.String(), "<sig>"))
	// Output:
	// refresh 0: 1 of 2 records trusted, 1 signature(s) cached
	// refresh 1: 1 of 2 records trusted, 1 signature(s) cached
	// {"info":{"subdir":"noarch"},"packages":{"a-1.0-0.tar.bz2":{"build":"0","depends":[],"name":"a","version":"1.0"}},"repodata_version":1,"signatures":{"a-1.0-0.tar.bz2":{"8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394":{"signature":"<sig>"}}}}
}

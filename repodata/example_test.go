package repodata_test

import (
	"bytes"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// A channel signs its records with a pkg_mgr key; a client verifies them
// against key_mgr's pkg_mgr delegation, then checks a downloaded file.
func Example() {
	// Fixed seeds keep the example reproducible; real keys come from
	// signer.ReadKeyFile.
	keyMgrKey, _ := signer.NewKey(bytes.Repeat([]byte{1}, 32))
	pkgMgrKey, _ := signer.NewKey(bytes.Repeat([]byte{2}, 32))

	// key_mgr delegates package signing to pkgMgrKey. A client verifies it
	// against its pinned root with a trust.Chain (see the trust package's
	// example); here it is taken as the trust anchor.
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

	// The channel signs its repodata.json.
	index := `{"info": {"subdir": "noarch"}, "packages": {"empty-1.0-0.tar.bz2": {
	  "name": "empty", "version": "1.0", "build": "0", "build_number": 0, "depends": [],
	  "size": 0, "md5": "d41d8cd98f00b204e9800998ecf8427e",
	  "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},
	  "packages.conda": {}, "repodata_version": 1}`
	f, err := repodata.Parse([]byte(index))
	if err != nil {
		log.Fatal(err)
	}
	var signed bytes.Buffer
	if _, err := repodata.Sign(&signed, f, repodata.SignOptions{
		Signers: []signer.Signer{pkgMgrKey},
		Compact: true,
	}); err != nil {
		log.Fatal(err)
	}

	// A client verifies every record of the signed file.
	served, err := repodata.Parse(signed.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	chain, err := trust.NewChainFromKeyMgr(keyMgr, trust.Options{At: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		log.Fatal(err)
	}
	v, err := repodata.NewVerifier(chain)
	if err != nil {
		log.Fatal(err)
	}
	rep, err := v.Verify(served)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rep.Results {
		fmt.Println(r.Filename, r.Status, "-", r.Reason)
	}

	// ... and the package file it downloaded.
	if _, err := v.VerifyPackage(served, "", "empty-1.0-0.tar.bz2", strings.NewReader("")); err == nil {
		fmt.Println("empty-1.0-0.tar.bz2 matches its signed record")
	}
	_, err = v.VerifyPackage(served, "", "empty-1.0-0.tar.bz2", strings.NewReader("tampered"))
	fmt.Println(err)

	// Output:
	// empty-1.0-0.tar.bz2 trusted - 1 of 1 required raw signatures from 1 authorized key(s)
	// empty-1.0-0.tar.bz2 matches its signed record
	// empty-1.0-0.tar.bz2: more than the 0 bytes the record gives
}

package repodata

import (
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/trust"
)

func TestVerifyArtifact(t *testing.T) {
	content := "package bytes"
	sha := fmt.Sprintf("%x", sha256.Sum256([]byte(content)))
	md := fmt.Sprintf("%x", md5.Sum([]byte(content)))
	rec := func(fields string) string { return `{"name": "p", "version": "1"` + fields + `}` }
	in := `{"packages": {
	"ok-1-0.tar.bz2": ` + rec(fmt.Sprintf(`, "size": %d, "sha256": %q, "md5": %q`, len(content), sha, md)) + `,
	"nomd5-1-0.tar.bz2": ` + rec(fmt.Sprintf(`, "size": %d, "sha256": %q`, len(content), strings.ToUpper(sha))) + `,
	"badmd5-1-0.tar.bz2": ` + rec(fmt.Sprintf(`, "size": %d, "sha256": %q, "md5": "%032d"`, len(content), sha, 0)) + `,
	"nosha-1-0.tar.bz2": ` + rec(fmt.Sprintf(`, "size": %d, "md5": %q`, len(content), md)) + `,
	"nosize-1-0.tar.bz2": ` + rec(fmt.Sprintf(`, "size": "13", "sha256": %q`, sha)) + `,
	"unsigned-1-0.tar.bz2": ` + rec(fmt.Sprintf(`, "size": %d, "sha256": %q`, len(content), sha)) + `
	}, "packages.conda": {"c-1-0.conda": ` + rec(fmt.Sprintf(`, "size": %d, "sha256": %q`, len(content), sha)) + `}}`
	key := testKey(t, "pkg_mgr-1")
	signed := signString(t, in, false, key)
	// One record edited after signing, one left without signatures.
	signed = mustReplace(t, signed, `"c-1-0.conda": {
      "name"`, `"c-1-0.conda": {
      "extra": 1,
      "name"`)
	i := strings.LastIndex(signed, `,
    "unsigned-1-0.tar.bz2"`)
	j := i + strings.Index(signed[i:], "\n    }") + len("\n    }")
	signed = signed[:i] + signed[j:]
	f := mustParse(t, signed)
	v := &Verifier{PkgMgr: trust.Delegation{Keys: []trust.PublicKey{key.Public()}, Threshold: 1}}

	tests := []struct {
		name, file, content string
		rule                trust.Rule
		detail              string
	}{
		{"good", "ok-1-0.tar.bz2", content, "", ""},
		{"good without md5, sha256 in upper case", "nomd5-1-0.tar.bz2", content, "", ""},
		{"bytes changed", "ok-1-0.tar.bz2", "package bytez", trust.RuleArtifactHash, "sha256 "},
		{"longer", "ok-1-0.tar.bz2", content + "!", trust.RuleArtifactHash, "file size 14 or more bytes differs from the signed record's 13"},
		{"shorter", "ok-1-0.tar.bz2", content[1:], trust.RuleArtifactHash, "file size 12 bytes differs"},
		{"md5 differs", "badmd5-1-0.tar.bz2", content, trust.RuleArtifactHash, "md5 "},
		{"record without sha256", "nosha-1-0.tar.bz2", content, trust.RuleArtifactHash, `the signed record has no "sha256"`},
		{"unsigned record", "unsigned-1-0.tar.bz2", content, trust.RuleUnsigned, "no signatures for unsigned-1-0.tar.bz2"},
		{"size not an integer", "nosize-1-0.tar.bz2", content, trust.RuleArtifactHash, `no usable "size" (found "13")`},
		{"record changed", "c-1-0.conda", content, trust.RuleThreshold, "raw signature does not verify"},
		{"not listed", "other-1-0.conda", content, RuleNotListed, `no record in the repodata's "packages.conda"`},
		{"wrong section", "c-1-0.tar.bz2", content, RuleNotListed, `"packages"`},
		{"not a package name", "ok-1-0.zip", content, RuleNotListed, "not a conda package name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.VerifyArtifact(f, tc.file, strings.NewReader(tc.content))
			if tc.rule == "" {
				if err != nil {
					t.Fatal(err)
				}
				if res.SHA256 != sha || res.Size != int64(len(content)) || res.Record.Status != Trusted {
					t.Errorf("result %+v", res)
				}
				return
			}
			var ve *trust.VerificationError
			if !errors.As(err, &ve) || !errors.Is(err, trust.ErrVerification) {
				t.Fatalf("error %v, want a verification error", err)
			}
			if ve.Rule != tc.rule || !strings.Contains(ve.Detail, tc.detail) || ve.Role != tc.file {
				t.Errorf("got %s %q (%s), want %s %q", ve.Rule, ve.Detail, ve.Role, tc.rule, tc.detail)
			}
		})
	}
}

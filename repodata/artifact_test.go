package repodata

import (
	"bytes"
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
	rec := func(name, fields string) string {
		return `{"build": "0", "name": "` + name + `", "version": "1"` + fields + `}`
	}
	in := `{"packages": {
	"ok-1-0.tar.bz2": ` + rec("ok", fmt.Sprintf(`, "size": %d, "sha256": %q, "md5": %q`, len(content), sha, md)) + `,
	"nomd5-1-0.tar.bz2": ` + rec("nomd5", fmt.Sprintf(`, "size": %d, "sha256": %q`, len(content), strings.ToUpper(sha))) + `,
	"badmd5-1-0.tar.bz2": ` + rec("badmd5", fmt.Sprintf(`, "size": %d, "sha256": %q, "md5": "%032d"`, len(content), sha, 0)) + `,
	"nosha-1-0.tar.bz2": ` + rec("nosha", fmt.Sprintf(`, "size": %d, "md5": %q`, len(content), md)) + `,
	"nosize-1-0.tar.bz2": ` + rec("nosize", fmt.Sprintf(`, "size": "13", "sha256": %q`, sha)) + `,
	"unsigned-1-0.tar.bz2": ` + rec("unsigned", fmt.Sprintf(`, "size": %d, "sha256": %q`, len(content), sha)) + `,
	"renamed-1-0.tar.bz2": ` + rec("ok", fmt.Sprintf(`, "size": %d, "sha256": %q`, len(content), sha)) + `
	}, "packages.conda": {"moved-1-0.tar.bz2": ` + rec("moved", fmt.Sprintf(`, "size": %d, "sha256": %q`, len(content), sha)) + `, "c-1-0.conda": ` + rec("c", fmt.Sprintf(`, "size": %d, "sha256": %q`, len(content), sha)) + `}}`
	key := testKey(t, "pkg_mgr-1")
	signed := signString(t, in, false, key)
	// One record edited after signing, one left without signatures.
	signed = mustReplace(t, signed, `"c-1-0.conda": {
      "build"`, `"c-1-0.conda": {
      "extra": 1,
      "build"`)
	i := strings.LastIndex(signed, `,
    "unsigned-1-0.tar.bz2"`)
	j := i + strings.Index(signed[i:], "\n    }") + len("\n    }")
	signed = signed[:i] + signed[j:]
	f := mustParse(t, signed)
	v := &Verifier{pkgMgr: trust.Delegation{Keys: []trust.PublicKey{key.Public()}, Threshold: 1}}

	tests := []struct {
		name, file, content string
		rule                trust.Rule
		detail              string
	}{
		{"good", "ok-1-0.tar.bz2", content, "", ""},
		{"good without md5, sha256 in upper case", "nomd5-1-0.tar.bz2", content, "", ""},
		{"bytes changed", "ok-1-0.tar.bz2", "package bytez", trust.RuleArtifactHash, "sha256 "},
		{"longer", "ok-1-0.tar.bz2", content + "!", trust.RuleArtifactHash, "more than the 13 bytes the record gives"},
		{"shorter", "ok-1-0.tar.bz2", content[1:], trust.RuleArtifactHash, "file size 12 bytes differs from the record's 13"},
		{"signed record renamed", "renamed-1-0.tar.bz2", content, trust.RuleRecordMismatch, "the signed record is for ok-1-0.tar.bz2, not for this file name"},
		{"md5 differs", "badmd5-1-0.tar.bz2", content, trust.RuleArtifactHash, "md5 "},
		{"record without sha256", "nosha-1-0.tar.bz2", content, trust.RuleArtifactHash, `the signed record has no "sha256"`},
		{"unsigned record", "unsigned-1-0.tar.bz2", content, trust.RuleUnsigned, "no signatures for unsigned-1-0.tar.bz2"},
		{"size not an integer", "nosize-1-0.tar.bz2", content, trust.RuleArtifactHash, `the record's "size" is not a non-negative integer (found "13")`},
		{"record changed", "c-1-0.conda", content, trust.RuleThreshold, "raw signature does not verify"},
		{"not listed", "other-1-0.conda", content, RuleNotListed, `no record in the repodata's "packages.conda"`},
		{"other name in the other section", "c-1-0.tar.bz2", content, RuleNotListed, `no record in the repodata's "packages"`},
		{"record moved to the other section", "moved-1-0.tar.bz2", content, trust.RuleRecordMismatch, `its record is filed in "packages.conda", where a .tar.bz2 file does not belong`},
		{"not a package name", "ok-1-0.zip", content, RuleNotListed, "not a conda package name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.VerifyPackage(f, "", tc.file, strings.NewReader(tc.content))
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

// A process that rewrites repodata.json in place while verify-package
// runs must not get an arbitrary file reported trusted: the hashes the
// file is checked against come from the very value whose signature was
// verified, not from a second read of bytes that may have changed.
func TestVerifyPackageReadsRecordOnce(t *testing.T) {
	good, evil := "the package the channel signed", "an arbitrary file"
	goodSHA := fmt.Sprintf("%x", sha256.Sum256([]byte(good)))
	evilSHA := fmt.Sprintf("%x", sha256.Sum256([]byte(evil)))
	in := fmt.Sprintf(`{"packages": {"p-1-0.tar.bz2": {"build": "0", "name": "p", "version": "1", "size": %d, "sha256": %q}}}`, len(good), goodSHA)
	key := testKey(t, "pkg_mgr-1")
	data := []byte(signString(t, in, false, key))
	f, err := Parse(data) // f's records alias data, as those of a mapped file do
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{pkgMgr: trust.Delegation{Keys: []trust.PublicKey{key.Public()}, Threshold: 1}}

	rewritten := false
	testHookRecordRead = func() {
		// Same length, so every offset stays valid: the size and digest
		// of the arbitrary file replace the signed ones in place.
		i := bytes.Index(data, []byte(goodSHA))
		copy(data[i:], evilSHA)
		j := bytes.Index(data, []byte(fmt.Sprintf(`"size": %d`, len(good))))
		copy(data[j:], fmt.Sprintf(`"size": %d`, len(evil)))
		rewritten = true
	}
	defer func() { testHookRecordRead = nil }()
	_, err = v.VerifyPackage(f, "", "p-1-0.tar.bz2", strings.NewReader(evil))
	if !rewritten {
		t.Fatal("the hook did not run")
	}
	var ve *trust.VerificationError
	if !errors.As(err, &ve) || ve.Rule != trust.RuleArtifactHash {
		t.Fatalf("an arbitrary file after an in-place rewrite: %v, want an artifact-hash refusal", err)
	}
}

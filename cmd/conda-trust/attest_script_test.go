package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/condatrust/condatrust/attest/attesttest"
)

func init() { scriptCmds["attestfixture"] = cmdAttestFixture }

// cmdAttestFixture makes a throw-away Sigstore instance (attesttest),
// writes its trusted root to ROOT and, for the package file PKG, a sidecar
// PKG.v0.sigs attesting PKG's base name (or NAME) and sha256, signed as
// IDENTITY with ISSUER for CHANNEL:
//
//	attestfixture ROOT PKG IDENTITY ISSUER CHANNEL [NAME]
func cmdAttestFixture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 5 || len(args) > 6 {
		ts.Fatalf("usage: attestfixture ROOT PKG IDENTITY ISSUER CHANNEL [NAME]")
	}
	s, err := attesttest.New()
	ts.Check(err)
	root, err := s.TrustedRoot()
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), root, 0o644))
	data, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	sum := sha256.Sum256(data)
	name := filepath.Base(args[1])
	if len(args) == 6 {
		name = args[5]
	}
	sidecar, err := s.Sidecar(args[2], args[3], attesttest.Statement(name, hex.EncodeToString(sum[:]), args[4]))
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]+".v0.sigs"), sidecar, 0o644))
}

package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/condatrust/condatrust/internal/softhsmtest"
	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/storage/s3store/s3test"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"conda-trust": func() { os.Exit(runInterruptible(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the command-line scripts in testdata/script: one or
// more per verb, each asserting output and exit status.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:  "testdata/script",
		Cmds: scriptCmds,
		Condition: func(cond string) (bool, error) {
			if cond == "softhsm" {
				return pkcs11Built && softhsmtest.Missing() == "", nil
			}
			if cond == "vectors" {
				_, ok := testvectors.Find()
				return ok, nil
			}
			if cond == "versitygw" { // a real S3 server for the s3 scripts
				return s3test.Binary() != "", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("VECTORS", vectorsDir())
			env.Setenv("LOCALVECTORS", testvectors.Local("vectors"))
			return nil
		},
	})
}

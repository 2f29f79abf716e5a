package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/condatrust/condatrust/internal/softhsmtest"
)

// scriptCmds are the commands testscripts get beyond testscript's own.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"status":   cmdStatus,
	"waitaddr": cmdWaitAddr,
	"httpget":  cmdHTTPGet,
	"replace":  cmdReplace,
	"softhsm":  cmdSoftHSM,
}

// cmdSoftHSM sets up SoftHSM2 tokens for a script: a configuration whose
// token folder is $WORK/softhsm (SOFTHSM2_CONF), one initialized token
// per LABEL with user PIN 123456, the PIN in $WORK/hsm.pin (mode 0600) and
// the variables MODULE (the PKCS#11 module) and PIN (the PIN file):
//
//	softhsm root-hsm channel-hsm
func cmdSoftHSM(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: softhsm LABEL...")
	}
	dir := ts.MkAbs("softhsm")
	conf, err := softhsmtest.Setup(dir)
	ts.Check(err)
	ts.Setenv("SOFTHSM2_CONF", conf)
	for _, l := range args {
		ts.Check(softhsmtest.InitToken(conf, l, "123456", "12345678"))
	}
	pin := ts.MkAbs("hsm.pin")
	ts.Check(os.WriteFile(pin, []byte("123456\n"), 0o600))
	ts.Setenv("PIN", pin)
	ts.Setenv("MODULE", softhsmtest.Module)
}

// cmdReplace rewrites FILE, replacing every match of the Go regular
// expression RE by REPL ($1 expands), and fails when nothing matched:
//
//	replace sig.json '"signature": "(.)(.{126}).' '"signature": "$1$1$2'
func cmdReplace(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: replace FILE RE REPL")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	file := ts.MkAbs(args[0])
	data, err := os.ReadFile(file)
	ts.Check(err)
	if !re.Match(data) {
		ts.Fatalf("replace: %q does not match %s", args[1], args[0])
	}
	ts.Check(os.WriteFile(file, re.ReplaceAll(data, []byte(args[2])), 0o644))
}

// cmdWaitAddr waits (at most 20 s) until FILE holds a listening address
// written by a server started in the background and its /healthz answers
// 200, then sets $VAR to http://ADDR:
//
//	waitaddr proxy.addr PROXY
func cmdWaitAddr(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitaddr FILE VAR")
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(ts.MkAbs(args[0]))
		if addr := strings.TrimSpace(string(data)); err == nil && addr != "" {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ts.Setenv(args[1], "http://"+addr)
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("no server ready at the address in %s after 20s", args[0])
}

// cmdHTTPGet fetches URL like a plain HTTP client (no verification of its
// own): the status code goes to stdout as "status N", the body to FILE, or
// to stdout after the status line when no FILE is given.
//
//	httpget $PROXY/main/noarch/repodata.json repodata.json
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: httpget URL [FILE]")
	}
	resp, err := http.Get(args[0])
	if err != nil {
		ts.Fatalf("httpget: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.Fatalf("httpget: reading the body: %v", err)
	}
	fmt.Fprintf(ts.Stdout(), "status %d\n", resp.StatusCode)
	if len(args) == 2 {
		if err := os.WriteFile(ts.MkAbs(args[1]), body, 0o644); err != nil {
			ts.Fatalf("httpget: %v", err)
		}
		return
	}
	ts.Stdout().Write(body)
}

// cmdStatus runs a program and checks its exact exit status:
//
//	status 3 conda-trust add ch --root key_mgr.json
//
// stdout and stderr are kept for the stdout and stderr commands that
// follow, as after exec.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status: %q is not an exit code", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("status: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

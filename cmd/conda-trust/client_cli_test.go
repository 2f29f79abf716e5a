package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/client/clienttest"
)

// clientCLI calls Main and returns its exit code, stdout and stderr.
func clientCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestClientVerbsOverHTTP drives add, fetch and verify-env through
// the CLI against a channel served by httptest, including a trusted
// environment (which the testscripts cannot build: the demo's package
// hashes change with every run).
func TestClientVerbsOverHTTP(t *testing.T) {
	ch := clienttest.New()
	fn := ch.AddPackage("noarch", "foo", "1.0", "0")
	srv := ch.Server(t)
	dir := t.TempDir()
	store := filepath.Join(dir, "trust")
	root := filepath.Join(dir, "1.root.json")
	if err := os.WriteFile(root, ch.File("1.root.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := clientCLI(t, "add", srv.URL, "--root", root, "--trust-dir", store); code != 0 {
		t.Fatalf("add: exit %d: %s", code, stderr)
	}

	out := filepath.Join(dir, "pkgs")
	code, stdout, stderr := clientCLI(t, "fetch", srv.URL, "noarch/"+fn, "-o", out, "--trust-dir", store)
	if code != 0 || !strings.Contains(stdout, "TRUSTED, verified by content trust") {
		t.Fatalf("fetch: exit %d\n%s%s", code, stdout, stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(out, fn)); !bytes.Equal(got, ch.File("noarch/"+fn)) {
		t.Error("fetched bytes differ")
	}

	prefix := filepath.Join(dir, "env")
	if err := ch.WriteCondaMeta(prefix, srv.URL, "noarch", fn); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = clientCLI(t, "verify-env", prefix, "--trust-dir", store)
	if code != 0 || !strings.Contains(stdout, "TRUSTED   "+fn) || !strings.Contains(stdout, "1 trusted, 0 untrusted") {
		t.Fatalf("verify-env: exit %d\n%s%s", code, stdout, stderr)
	}

	// The record is edited on the server: fetch refuses (exit 1) and
	// writes nothing; verify-env reports the package untrusted.
	ch.EditRecord("noarch", fn, "depends", canonjson.NewArray(canonjson.MustString("evil")))
	bad := filepath.Join(dir, "bad")
	code, _, stderr = clientCLI(t, "fetch", srv.URL, "noarch/"+fn, "-o", bad, "--trust-dir", store)
	if code != exitUntrusted || !strings.Contains(stderr, "not signed by a threshold of pkg_mgr keys") ||
		!strings.Contains(stderr, "hint: not enough valid signatures") {
		t.Errorf("fetch of an edited record: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("output folder left behind: %v", err)
	}
	code, stdout, _ = clientCLI(t, "verify-env", prefix, "--trust-dir", store)
	if code != exitUntrusted || !strings.Contains(stdout, "UNTRUSTED "+fn) {
		t.Errorf("verify-env after the edit: exit %d\n%s", code, stdout)
	}

	// A stalled server: an operational error (exit 3), nothing written.
	ch.Sign("noarch", fn, "pkg_mgr")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	ch.Handle("noarch/"+fn, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	code, _, stderr = clientCLI(t, "fetch", srv.URL, "noarch/"+fn, "-o", bad, "--trust-dir", store, "--timeout", "200ms")
	if code != exitInput || !strings.Contains(stderr, "server stalled") || !strings.Contains(stderr, "hint: the server stopped answering") {
		t.Errorf("stalled server: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("output folder left behind: %v", err)
	}

	// A server that drips a byte every 20 ms never stalls, but --deadline
	// ends the request: an operational error (exit 3), nothing written.
	ch.Handle("noarch/"+fn, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		for range 500 { // bounded: 10 s at most
			if _, err := w.Write([]byte{0}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-time.After(20 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	})
	start := time.Now()
	code, _, stderr = clientCLI(t, "fetch", srv.URL, "noarch/"+fn, "-o", bad, "--trust-dir", store, "--timeout", "5s", "--deadline", "400ms")
	if code != exitInput || !strings.Contains(stderr, "hint: the request took longer than --deadline allows") {
		t.Errorf("dripping server: exit %d: %s", code, stderr)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("the deadline did not end the request (%v)", d)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("output folder left behind: %v", err)
	}
}

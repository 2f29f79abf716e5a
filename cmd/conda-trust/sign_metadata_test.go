package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/condatrust/condatrust/signer"
)

// TestSignMetadataExitCodes: a key that cannot count is refused with exit
// 1, a --previous that is not the previous root with exit 3, and neither
// writes the file.
func TestSignMetadataExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"root1", "root2", "key_mgr"} {
		if _, err := signer.GenerateKeyFiles(dir, n); err != nil {
			t.Fatal(err)
		}
	}
	key := func(n string) string { return filepath.Join(dir, n+".pri") }
	root1, root2 := filepath.Join(dir, "1.root.json"), filepath.Join(dir, "2.root.json")
	if code, _, errOut := runMain("root", "init", "--root-key", filepath.Join(dir, "root1.pub"), "--key-mgr-key", filepath.Join(dir, "key_mgr.pub"), "-o", root1); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := runMain("root", "next", root1, "--root-key", filepath.Join(dir, "root2.pub"), "-o", root2); code != 0 {
		t.Fatal(errOut)
	}
	before, _ := os.ReadFile(root2)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"sign-metadata", root1, "--key", key("root2")}, exitUntrusted, "not one of root v1's root keys"},
		{[]string{"sign-metadata", root2, "--key", key("key_mgr")}, exitUntrusted, "neither one of root v2's root keys nor one of the previous root v1's"},
		{[]string{"sign-metadata", root2, "--key", key("root1"), "--previous", root2}, exitInput, "is not the previous root of root v2"},
		{[]string{"sign-metadata", root2, "--key", key("root1"), "--root", root1}, exitUsage, "--root names the root of a key_mgr file"},
	} {
		code, out, errOut := runMain(c.args...)
		if code != c.code || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", c.args[1:], code, out, errOut, c.code, c.want)
		}
	}
	if after, _ := os.ReadFile(root2); string(after) != string(before) {
		t.Error("a refused run wrote the file")
	}
	// root1 (the previous root's key, found next to the file) counts.
	if code, out, errOut := runMain("sign-metadata", root2, "--key", key("root1"), "--key", key("root2")); code != 0 || !strings.Contains(out, "1 of 1 signatures from the root keys of the previous root v1: threshold met") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestSignMetadataReportsAfterWrite: when the file cannot be written
// (its folder is read-only), nothing is reported as signed and the file is
// unchanged. Root writes into read-only folders, so as root the command
// runs as the unprivileged user 65534 (the conda-trust that testscript.Main
// put on $PATH).
func TestSignMetadataReportsAfterWrite(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"root1", "key_mgr"} {
		if _, err := signer.GenerateKeyFiles(dir, n); err != nil {
			t.Fatal(err)
		}
	}
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(ro, "1.root.json")
	if code, _, errOut := runMain("root", "init", "--root-key", filepath.Join(dir, "root1.pub"), "--key-mgr-key", filepath.Join(dir, "key_mgr.pub"), "-o", root); code != 0 {
		t.Fatal(errOut)
	}
	before, err := os.ReadFile(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(ro, 0o755)
	args := []string{"sign-metadata", root, "--key", filepath.Join(dir, "root1.pri")}
	var code int
	var out, errOut string
	if os.Geteuid() == 0 {
		code, out, errOut = runAsNobody(t, dir, args...)
	} else {
		code, out, errOut = runMain(args...)
	}
	if code == 0 || out != "" || !strings.Contains(errOut, "cannot write "+root) {
		t.Errorf("exit %d, stdout %q, stderr %q: want a write failure naming the file and nothing reported as signed", code, out, errOut)
	}
	if after, _ := os.ReadFile(root); string(after) != string(before) {
		t.Error("the file changed")
	}
}

// runAsNobody runs conda-trust as uid and gid 65534 with dir (and the
// folders above it that the test made) readable to that user; it skips
// the test when that cannot be arranged.
func runAsNobody(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	// The test binary runs conda-trust when it is called by that name
	// (testscript.Main); a copy in dir is one the other user can run.
	self, err := os.Executable()
	if err != nil {
		t.Skipf("cannot find the test binary: %v", err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "conda-trust")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := dir; d != filepath.Dir(d) && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The private key must be readable by that user: it is a throw-away key.
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && p != exe {
			os.Chmod(p, 0o644)
		}
		return nil
	})
	cmd := exec.Command(exe, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Skipf("cannot run as uid 65534: %v", err)
	}
	return code, o.String(), e.String()
}

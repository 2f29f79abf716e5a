// Package leafcheck lets tests check that a package stays a leaf: that the
// packages listed do not depend on it (or on its heavy dependencies).
package leafcheck

import (
	"os/exec"
	"strings"
	"testing"
)

// Module is the module path packages are named under.
const Module = "github.com/condatrust/condatrust/"

// Check runs `go list -deps` on the module's packages pkgs (paths relative
// to the module) and fails t for every dependency forbidden reports. It
// skips when the go command is not on PATH.
func Check(t *testing.T, pkgs []string, forbidden func(dep string) bool) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH: cannot list dependencies")
	}
	// -tags pkcs11: the tagged files count too.
	args := []string{"list", "-deps", "-tags", "pkcs11"}
	for _, p := range pkgs {
		args = append(args, Module+p)
	}
	out, err := exec.Command(goBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if forbidden(dep) {
			t.Errorf("%s is imported by one of %v", dep, pkgs)
		}
	}
}

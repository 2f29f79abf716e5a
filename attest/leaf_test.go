package attest

import (
	"os/exec"
	"strings"
	"testing"
)

// attest is a leaf: the verification path, the client and the proxy do
// not depend on it or on sigstore-go (only cmd wires it in).
func TestLeaf(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found: cannot list dependencies")
	}
	pkgs := []string{"canonjson", "trust", "repodata", "client", "proxy"}
	args := []string{"list", "-deps"}
	for _, p := range pkgs {
		args = append(args, "github.com/condatrust/condatrust/"+p)
	}
	out, err := exec.Command(goBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/condatrust/condatrust/attest" || strings.Contains(dep, "sigstore") {
			t.Errorf("%s is imported by one of %v", dep, pkgs)
		}
	}
}

package envaudit_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/envaudit"
	"github.com/condatrust/condatrust/envaudit/envtest"
)

// Audit an environment: one package installed, then one of its files
// changed and one planted. The archive would come from a verified
// download or pkgs cache copy.
func ExampleEnv_Audit() {
	dir, _ := os.MkdirTemp("", "envaudit-example-")
	defer os.RemoveAll(dir)
	spec := envtest.Spec("demo", "1.0", "0", "linux-64", envtest.SampleFiles())
	pkg, _ := spec.WriteTo(dir, condapkg.Conda, condapkg.WriteOptions{})
	prefix := filepath.Join(dir, "env")
	metaFile, _ := envtest.Install(prefix, pkg, envtest.Options{})

	os.WriteFile(filepath.Join(prefix, "share", "demo", "README.txt"), []byte("changed\n"), 0o644)
	os.WriteFile(filepath.Join(prefix, "lib", "libevil.so"), []byte("planted"), 0o755)

	data, _ := os.ReadFile(metaFile)
	meta, err := envaudit.ParseMeta(data, metaFile)
	if err != nil {
		fmt.Println(err)
		return
	}
	env := &envaudit.Env{Files: os.DirFS(prefix), Prefix: prefix, HostOS: "linux"}
	res, err := env.Audit(envaudit.ArchiveFile(pkg), meta)
	if err != nil {
		fmt.Println("cannot check:", err)
		return
	}
	fmt.Println("checked", res.Checked)
	for _, f := range res.Findings {
		fmt.Println(f.Status, f.Path)
	}
	unexpected, _ := env.Unexpected([]*envaudit.Meta{meta})
	for _, f := range unexpected {
		fmt.Println(f.Status, f.Path)
	}
	// Output:
	// checked 5
	// modified share/demo/README.txt
	// unexpected lib/libevil.so
}

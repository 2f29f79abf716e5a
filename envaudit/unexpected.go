package envaudit

import (
	"io/fs"
	"path"
	"strings"
)

// skippedTop are the top-level folders of a prefix that no package owns
// and conda itself keeps: its records, and in a base installation the
// package cache and the other environments.
var skippedTop = map[string]bool{"conda-meta": true, "pkgs": true, "envs": true}

// Unexpected lists the files and symbolic links in the prefix that no
// package's conda-meta record claims (in "files" or "paths_data"). Not
// listed, and never walked into:
//
//   - the top-level folders conda-meta (conda's records), pkgs and envs
//     (the package cache and other environments of a base installation);
//   - Python bytecode that Python writes next to an installed module:
//     DIR/__pycache__/NAME.TAG.pyc when DIR/NAME.py is claimed.
//
// Directories are not listed themselves; an unclaimed directory shows as
// the files in it. Symbolic links are not followed.
func (e *Env) Unexpected(metas []*Meta) ([]Finding, error) {
	owned := map[string]bool{}
	for _, m := range metas {
		for _, f := range m.Files {
			owned[f] = true
		}
		for _, f := range m.Generated {
			owned[f] = true
		}
	}
	var out []Finding
	err := fs.WalkDir(e.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		if d.IsDir() {
			if !strings.Contains(p, "/") && skippedTop[p] {
				return fs.SkipDir
			}
			return nil
		}
		if owned[p] || isBytecodeOf(p, owned) {
			return nil
		}
		out = append(out, Finding{Path: p, Status: Unexpected, Reason: "in the prefix, but no package's conda-meta record lists it"})
		return nil
	})
	return out, err
}

// isBytecodeOf reports whether p is DIR/__pycache__/NAME.TAG.pyc (or
// .opt-N.pyc) for a claimed DIR/NAME.py.
func isBytecodeOf(p string, owned map[string]bool) bool {
	dir, file := path.Split(p)
	if path.Base(dir) != "__pycache__" || !strings.HasSuffix(file, ".pyc") {
		return false
	}
	name, _, ok := strings.Cut(strings.TrimSuffix(file, ".pyc"), ".")
	if !ok {
		return false
	}
	src := path.Join(path.Dir(strings.TrimSuffix(dir, "/")), name+".py")
	return owned[src]
}

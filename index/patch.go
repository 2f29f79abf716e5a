package index

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/condatrust/condatrust/canonjson"
)

// PatchInstructionsFile is the file name of a subdir's patch instructions.
const PatchInstructionsFile = "patch_instructions.json"

// ErrPatchVersion is returned by [ParsePatchInstructions] for a
// patch_instructions_version above 1, which conda-index refuses too.
var ErrPatchVersion = errors.New("unsupported patch_instructions_version (this indexer applies version 1)")

// PatchInstructions are the repodata hotfixes of one subdir, as in a
// patch_instructions.json file (channel-index.md §8).
type PatchInstructions struct {
	// Version is patch_instructions_version; 0 when absent.
	Version int64
	// Packages maps .tar.bz2 file names to fixes. A fix for X.tar.bz2 also
	// applies to X.conda.
	Packages map[string]canonjson.Value
	// PackagesConda maps .conda file names to fixes.
	PackagesConda map[string]canonjson.Value
	// Remove lists file names to delete from the index and list in
	// "removed"; a .tar.bz2 name also removes its .conda twin.
	Remove []string
	// Revoke lists file names to mark "revoked"; a .tar.bz2 name also
	// revokes its .conda twin.
	Revoke []string
}

// BoundKeys are the record fields a fix may not set, to any value or null:
// "name", "version", "build" and "subdir" tie a record to its file name and
// folder (see [repodata.CheckBinding]), and "md5", "sha256" and "size" to
// the package's bytes. File names and folders are not signed, so a patch
// that renamed a record would have the indexer sign, under one file's name,
// a record that clients accept for another file.
var BoundKeys = []string{"build", "md5", "name", "sha256", "size", "subdir", "version"}

// checkFix refuses a fix that sets one of [BoundKeys].
func checkFix(section, fn string, fix canonjson.Value) error {
	for _, k := range BoundKeys {
		if _, ok := fix.Get(k); ok {
			return fmt.Errorf("%s[%q]: a fix may not set %q: name, version, build and subdir tie a record to its file name and folder, and md5, sha256 and size to its bytes; rebuild the package instead of patching them", section, fn, k)
		}
	}
	return nil
}

// ParsePatchInstructions parses patch_instructions.json. Unknown top-level
// keys are ignored, as conda-index ignores them; a known key of the wrong
// type, a fix that is not an object or that sets one of [BoundKeys], and a
// version above 1 are errors.
func ParsePatchInstructions(data []byte) (*PatchInstructions, error) {
	v, err := canonjson.Parse(data)
	if err != nil {
		return nil, err
	}
	if v.Kind() != canonjson.Object {
		return nil, fmt.Errorf("a JSON %s, not an object", v.Kind())
	}
	p := &PatchInstructions{Packages: map[string]canonjson.Value{}, PackagesConda: map[string]canonjson.Value{}}
	if ver, ok := v.Get("patch_instructions_version"); ok {
		n, isInt := ver.Int64()
		if !isInt {
			return nil, fmt.Errorf("patch_instructions_version: want an integer, got %s", describe(ver))
		}
		if n > 1 {
			return nil, fmt.Errorf("patch_instructions_version %d: %w", n, ErrPatchVersion)
		}
		p.Version = n
	}
	for key, dst := range map[string]map[string]canonjson.Value{"packages": p.Packages, "packages.conda": p.PackagesConda} {
		fixes, ok := v.Get(key)
		if !ok || fixes.IsNull() {
			continue
		}
		if fixes.Kind() != canonjson.Object {
			return nil, fmt.Errorf("%s: want an object of file name to fix, got %s", key, describe(fixes))
		}
		for _, m := range fixes.Members() {
			if m.Value.Kind() != canonjson.Object {
				return nil, fmt.Errorf("%s[%q]: a fix must be an object of fields, got %s", key, m.Key, describe(m.Value))
			}
			if err := checkFix(key, string(m.Key), m.Value); err != nil {
				return nil, err
			}
			dst[string(m.Key)] = m.Value
		}
	}
	for key, dst := range map[string]*[]string{"remove": &p.Remove, "revoke": &p.Revoke} {
		list, ok := v.Get(key)
		if !ok || list.IsNull() {
			continue
		}
		if list.Kind() != canonjson.Array {
			return nil, fmt.Errorf("%s: want a list of file names, got %s", key, describe(list))
		}
		for i, e := range list.Members() {
			if e.Value.Kind() != canonjson.String {
				return nil, fmt.Errorf("%s[%d]: want a file name, got %s", key, i, describe(e.Value))
			}
			*dst = append(*dst, e.Value.Str())
		}
	}
	return p, nil
}

func describe(v canonjson.Value) string {
	if v.Kind() == canonjson.Object || v.Kind() == canonjson.Array {
		return "a JSON " + v.Kind().String()
	}
	b := canonjson.Marshal(v)
	if len(b) > 40 {
		b = append(b[:37], "..."...)
	}
	return string(b)
}

// condaTwin returns the .conda name for a .tar.bz2 name, as conda-index
// derives it (the suffix replaced), and fn itself for any other name.
func condaTwin(fn string) string {
	if base, ok := strings.CutSuffix(fn, ".tar.bz2"); ok {
		return base + ".conda"
	}
	return fn
}

// Apply returns a patched copy of r; r is not modified. The steps and their
// order are conda-index's (channel-index.md §8):
//
//  1. fixes in Packages are merged into the records of those .tar.bz2
//     names that exist (absent names are ignored);
//  2. the same fixes are merged into the .conda twins that exist;
//  3. fixes in PackagesConda are merged into .conda records;
//  4. each Revoke name (and its .conda twin) present gets "revoked": true
//     and "package_has_been_revoked" appended to "depends" (created when
//     absent);
//  5. each Remove name (and its .conda twin) present is deleted and listed
//     in "removed", which is then sorted.
//
// Merging a fix into a record: an object value is merged recursively; null
// deletes the field, or sets it to null when absent (conda-index's
// behaviour); any other value, lists included, replaces the field or adds
// it. A fix that sets one of [BoundKeys] is an error, as in
// [ParsePatchInstructions].
func (p *PatchInstructions) Apply(r *Repodata) (*Repodata, error) {
	for _, fixes := range []struct {
		section string
		m       map[string]canonjson.Value
	}{{"packages", p.Packages}, {"packages.conda", p.PackagesConda}} {
		for _, fn := range sortedKeys(fixes.m) {
			if err := checkFix(fixes.section, fn, fixes.m[fn]); err != nil {
				return nil, err
			}
		}
	}
	out := r.Clone()
	fix := func(recs map[string]canonjson.Value, fn string, f canonjson.Value) error {
		rec, ok := recs[fn]
		if !ok {
			return nil
		}
		merged, err := mergeFix(rec, f)
		if err != nil {
			return fmt.Errorf("patch for %s: %w", fn, err)
		}
		recs[fn] = merged
		return nil
	}
	for _, fn := range sortedKeys(p.Packages) {
		if err := fix(out.Packages, fn, p.Packages[fn]); err != nil {
			return nil, err
		}
	}
	for _, fn := range sortedKeys(p.Packages) {
		if err := fix(out.PackagesConda, condaTwin(fn), p.Packages[fn]); err != nil {
			return nil, err
		}
	}
	for _, fn := range sortedKeys(p.PackagesConda) {
		if err := fix(out.PackagesConda, fn, p.PackagesConda[fn]); err != nil {
			return nil, err
		}
	}
	revoked := canonjson.MustString("package_has_been_revoked")
	for _, fn := range p.Revoke {
		for _, t := range []struct {
			recs map[string]canonjson.Value
			name string
		}{{out.Packages, fn}, {out.PackagesConda, condaTwin(fn)}} {
			rec, ok := t.recs[t.name]
			if !ok {
				continue
			}
			var deps []canonjson.Value
			if d, ok := rec.Get("depends"); ok {
				if d.Kind() != canonjson.Array {
					return nil, fmt.Errorf("revoke %s: its \"depends\" is %s, not a list", t.name, describe(d))
				}
				for _, m := range d.Members() {
					deps = append(deps, m.Value)
				}
			}
			rec, err := rec.With("revoked", canonjson.NewBool(true))
			if err == nil {
				rec, err = rec.With("depends", canonjson.NewArray(append(deps, revoked)...))
			}
			if err != nil {
				return nil, fmt.Errorf("revoke %s: %w", t.name, err)
			}
			t.recs[t.name] = rec
		}
	}
	for _, fn := range p.Remove {
		if _, ok := out.Packages[fn]; ok {
			delete(out.Packages, fn)
			out.Removed = append(out.Removed, fn)
		}
		twin := condaTwin(fn)
		if _, ok := out.PackagesConda[twin]; ok {
			delete(out.PackagesConda, twin)
			out.Removed = append(out.Removed, twin)
		}
	}
	slices.Sort(out.Removed)
	return out, nil
}

// mergeFix merges fix into the object base as conda-index's
// merge_or_update_dict(merge=False) does.
func mergeFix(base, fix canonjson.Value) (canonjson.Value, error) {
	if base.Kind() != canonjson.Object {
		empty, _ := canonjson.NewObject(nil)
		base = empty
	}
	var err error
	for _, m := range fix.Members() {
		key := string(m.Key)
		cur, exists := base.Get(key)
		switch {
		case m.Value.Kind() == canonjson.Object:
			var merged canonjson.Value
			if !exists {
				cur = canonjson.Value{}
			}
			if merged, err = mergeFix(cur, m.Value); err == nil {
				base, err = base.With(key, merged)
			}
		case m.Value.IsNull() && exists:
			base = base.Without(key)
		default:
			base, err = base.With(key, m.Value)
		}
		if err != nil {
			return canonjson.Value{}, fmt.Errorf("field %q: %w", key, err)
		}
	}
	return base, nil
}

func sortedKeys(m map[string]canonjson.Value) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

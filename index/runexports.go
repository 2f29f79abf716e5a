package index

import (
	"github.com/condatrust/condatrust/canonjson"
)

// RunExportsFile is the CEP 12 run_exports index of a subdir.
const RunExportsFile = "run_exports.json"

// runExportsOf returns the package's info/run_exports.json as a value, or
// {} when it has none (or one that is not a JSON object), as conda-index
// stores it.
func runExportsOf(e cacheEntry) canonjson.Value {
	empty, _ := canonjson.NewObject(nil)
	if len(e.RunExports) == 0 {
		return empty
	}
	v, err := canonjson.Parse(e.RunExports)
	if err != nil || v.Kind() != canonjson.Object {
		return empty
	}
	return v
}

// runExportsDocument returns run_exports.json as conda-index --run-exports
// writes it (CEP 12): {"info": {"subdir": S, "version": 1}, "packages":
// {FILE: {"run_exports": {...}}}, "packages.conda": {...}}, one entry per
// package indexed from the folder (before patches, which do not touch
// run_exports, and including packages a patch removes, as conda-index
// does), {} for a package without info/run_exports.json.
func (s *subdirState) runExportsDocument() (canonjson.Value, error) {
	pk := map[string]canonjson.Value{}
	pc := map[string]canonjson.Value{}
	var err error
	s.indexed(func(f *pkgFile) {
		if err != nil {
			return
		}
		var entry canonjson.Value
		entry, err = canonjson.NewObject(map[string]canonjson.Value{"run_exports": runExportsOf(f.entry)})
		if RepodataSection(f.name) == "packages.conda" {
			pc[f.name] = entry
		} else {
			pk[f.name] = entry
		}
	})
	if err != nil {
		return canonjson.Value{}, err
	}
	sub, err := canonjson.NewString(s.name)
	if err != nil {
		return canonjson.Value{}, err
	}
	info, err := canonjson.NewObject(map[string]canonjson.Value{"subdir": sub, "version": canonjson.NewInt(1)})
	if err != nil {
		return canonjson.Value{}, err
	}
	pkv, err := canonjson.NewObject(pk)
	if err != nil {
		return canonjson.Value{}, err
	}
	pcv, err := canonjson.NewObject(pc)
	if err != nil {
		return canonjson.Value{}, err
	}
	return canonjson.NewObject(map[string]canonjson.Value{"info": info, "packages": pkv, "packages.conda": pcv})
}

// RepodataSection returns "packages.conda" for a .conda file name and
// "packages" otherwise.
func RepodataSection(filename string) string {
	if len(filename) > 6 && filename[len(filename)-6:] == ".conda" {
		return "packages.conda"
	}
	return "packages"
}

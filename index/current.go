package index

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/condatrust/condatrust/canonjson"
)

// CurrentRepodataFile is the reduced index conda's classic solver reads
// before repodata.json: see [CurrentRepodata].
const CurrentRepodataFile = "current_repodata.json"

// currentRec is a record as the current_repodata selection sees it: the
// fields conda's Resolve reads, parsed once.
type currentRec struct {
	fn          string
	value       canonjson.Value
	name        string
	version     string
	vo          VersionOrder
	voOK        bool
	build       string
	buildNumber int64
	timestamp   float64 // seconds, as conda's TimestampField boxes it
	depends     []string
	features    bool // has non-empty features or track_features
}

// CurrentRepodata returns the current_repodata.json of the (patched)
// index r, as conda-index computes it (conda_index/index/current_repodata.py,
// without pins):
//
//  1. The records conda would load: every .conda record, and the .tar.bz2
//     records that have no .conda twin; records with "record_version" above
//     1 are left out, as conda does.
//  2. For each package name, the newest version: records are ordered by
//     version ([VersionOrder]), build number, timestamp and build string,
//     highest first, as conda's Resolve orders them; every record matching
//     "NAME=VERSION" of the first one is kept (a prefix match, so 1.2 keeps
//     1.2.1 builds too, as in conda).
//  3. For each dependency of a kept record that no kept record satisfies,
//     the newest version that satisfies it is added (all its builds), one
//     level deep, as conda-index's _add_missing_deps does.
//  4. For each name where a kept record has features or track_features,
//     the newest record at or below the kept version with neither is added.
//
// .conda records get "legacy_bz2_md5": the md5 of the .tar.bz2 twin, or
// null, as conda-index writes. info, removed and repodata_version are
// those of r. A dependency conda cannot parse (conda-index would stop) is
// ignored; a version conda cannot parse sorts below every valid one.
func CurrentRepodata(r *Repodata) *Repodata {
	var recs []*currentRec
	versions := map[string]versionParse{} // records share versions: parse each once
	add := func(fn string, v canonjson.Value) {
		if rv, ok := v.Get("record_version"); ok {
			if n, err := strconv.ParseFloat(rv.NumberText(), 64); err == nil && n > 1 {
				return
			}
		}
		c := newCurrentRec(fn, v, versions)
		if c != nil {
			recs = append(recs, c)
		}
	}
	for _, fn := range slices.Sorted(maps.Keys(r.PackagesConda)) {
		add(fn, r.PackagesConda[fn])
	}
	for _, fn := range slices.Sorted(maps.Keys(r.Packages)) {
		if _, twin := r.PackagesConda[strings.TrimSuffix(fn, ".tar.bz2")+".conda"]; twin {
			continue
		}
		add(fn, r.Packages[fn])
	}
	all := groupRecs(recs)

	// 2. the newest version of each name.
	keep := map[*currentRec]bool{}
	for _, name := range slices.Sorted(maps.Keys(all)) {
		g := all[name]
		for _, c := range sameVersion(g, g[0].version) {
			keep[c] = true
		}
	}
	// 3. what their dependencies need.
	newest := groupRecs(slices.Collect(maps.Keys(keep)))
	seen := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(newest)) {
		for _, c := range newest[name] {
			for _, dep := range c.depends {
				if seen[dep] {
					continue
				}
				seen[dep] = true
				ms, err := parseMatchSpec(dep)
				if err != nil {
					continue
				}
				if firstMatch(newest[ms.name], ms, r.Subdir) != nil {
					continue
				}
				if m := firstMatch(all[ms.name], ms, r.Subdir); m != nil {
					for _, c := range sameVersion(all[ms.name], m.version) {
						keep[c] = true
					}
				}
			}
		}
	}
	// 4. a featureless fallback for names with features.
	expanded := groupRecs(slices.Collect(maps.Keys(keep)))
	for name, g := range expanded {
		if !slices.ContainsFunc(g, func(c *currentRec) bool { return c.features }) {
			continue
		}
		for _, c := range all[name] {
			if !c.features && compareVersions(c, g[0]) <= 0 {
				keep[c] = true
				break
			}
		}
	}

	out := &Repodata{Subdir: r.Subdir, Packages: map[string]canonjson.Value{},
		PackagesConda: map[string]canonjson.Value{}, Removed: slices.Clone(r.Removed)}
	if out.Removed == nil {
		out.Removed = []string{}
	}
	for c := range keep {
		if strings.HasSuffix(c.fn, ".conda") {
			md5 := canonjson.NewNull()
			if twin, ok := r.Packages[strings.TrimSuffix(c.fn, ".conda")+".tar.bz2"]; ok {
				if m, ok := twin.Get("md5"); ok {
					md5 = m
				}
			}
			v, err := c.value.With("legacy_bz2_md5", md5)
			if err != nil { // only for a record that is not an object, which Add refuses
				v = c.value
			}
			out.PackagesConda[c.fn] = v
		} else {
			out.Packages[c.fn] = c.value
		}
	}
	return out
}

// versionParse is a parsed version, or that it does not parse.
type versionParse struct {
	vo VersionOrder
	ok bool
}

func newCurrentRec(fn string, v canonjson.Value, versions map[string]versionParse) *currentRec {
	str := func(k string) (string, bool) {
		x, ok := v.Get(k)
		if !ok || x.Kind() != canonjson.String {
			return "", false
		}
		return x.Str(), true
	}
	c := &currentRec{fn: fn, value: v}
	var ok bool
	if c.name, ok = str("name"); !ok {
		return nil
	}
	if c.version, ok = str("version"); !ok {
		return nil
	}
	c.build, _ = str("build")
	p, seen := versions[c.version]
	if !seen {
		p.vo, p.ok = parseVersionCached(c.version)
		versions[c.version] = p
	}
	c.vo, c.voOK = p.vo, p.ok
	if bn, ok := v.Get("build_number"); ok {
		c.buildNumber, _ = bn.Int64()
	}
	if ts, ok := v.Get("timestamp"); ok && ts.Kind() == canonjson.Number {
		if f, err := strconv.ParseFloat(ts.NumberText(), 64); err == nil {
			if f > 253402300799 {
				f /= 1000
			}
			c.timestamp = f
		}
	}
	if d, ok := v.Get("depends"); ok && d.Kind() == canonjson.Array {
		for i := range d.Len() {
			if e := d.Index(i); e.Kind() == canonjson.String {
				c.depends = append(c.depends, e.Str())
			}
		}
	}
	c.features = hasFeatures(v, "features") || hasFeatures(v, "track_features")
	return c
}

func parseVersionCached(s string) (VersionOrder, bool) {
	vo, err := ParseVersion(s)
	return vo, err == nil
}

// hasFeatures reports whether the record's key holds at least one feature
// name: a string split at spaces and commas, or a non-empty list.
func hasFeatures(v canonjson.Value, key string) bool {
	f, ok := v.Get(key)
	if !ok {
		return false
	}
	switch f.Kind() {
	case canonjson.String:
		return len(strings.FieldsFunc(f.Str(), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })) > 0
	case canonjson.Array:
		return f.Len() > 0
	}
	return false
}

// groupRecs groups records by name, each group ordered as conda's
// Resolve.version_key orders them, highest first (file name breaks ties).
func groupRecs(recs []*currentRec) map[string][]*currentRec {
	g := map[string][]*currentRec{}
	for _, c := range recs {
		g[c.name] = append(g[c.name], c)
	}
	for _, list := range g {
		slices.SortFunc(list, func(a, b *currentRec) int {
			if c := compareVersions(b, a); c != 0 {
				return c
			}
			if c := cmp.Compare(b.buildNumber, a.buildNumber); c != 0 {
				return c
			}
			if c := cmp.Compare(b.timestamp, a.timestamp); c != 0 {
				return c
			}
			if c := strings.Compare(b.build, a.build); c != 0 {
				return c
			}
			return strings.Compare(a.fn, b.fn)
		})
	}
	return g
}

// compareVersions orders by version; unparseable versions sort lowest.
func compareVersions(a, b *currentRec) int {
	switch {
	case a.voOK && b.voOK:
		return a.vo.Compare(b.vo)
	case a.voOK:
		return 1
	case b.voOK:
		return -1
	}
	return strings.Compare(a.version, b.version)
}

// sameVersion returns the records of group matching NAME=VERSION (conda's
// fuzzy "VERSION*"), or with exactly that version string when it is not a
// version conda can parse.
func sameVersion(group []*currentRec, version string) []*currentRec {
	vs, err := parseVersionSpec(sanitizeVersion("="+version, false))
	var out []*currentRec
	for _, c := range group {
		if err == nil && vs.matchParsed(c.version, c.vo, c.voOK) || err != nil && c.version == version {
			out = append(out, c)
		}
	}
	return out
}

func firstMatch(group []*currentRec, ms *matchSpec, subdir string) *currentRec {
	for _, c := range group {
		if ms.match(c, subdir) {
			return c
		}
	}
	return nil
}

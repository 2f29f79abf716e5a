package index

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/storage"
)

// ChannelDataFile is the channel-wide summary conda-index --channeldata
// writes at the top of the channel.
const ChannelDataFile = "channeldata.json"

// Flags of postInstallFlags, in conda-index's post_install.json order.
const (
	piBinaryPrefix uint8 = 1 << iota
	piTextPrefix
	piActivateD
	piDeactivateD
	piPreLink
	piPostLink
	piPreUnlink
)

var postInstallKeys = []struct {
	key  string
	flag uint8
}{
	{"binary_prefix", piBinaryPrefix}, {"text_prefix", piTextPrefix},
	{"activate.d", piActivateD}, {"deactivate.d", piDeactivateD},
	{"pre_link", piPreLink}, {"post_link", piPostLink}, {"pre_unlink", piPreUnlink},
}

var linkScriptRE = map[uint8]*regexp.Regexp{
	piPreLink:   regexp.MustCompile(`(?s)^.*/\..*-pre-link\..*$`),
	piPostLink:  regexp.MustCompile(`(?s)^.*/\..*-post-link\..*$`),
	piPreUnlink: regexp.MustCompile(`(?s)^.*/\..*-pre-unlink\..*$`),
}

// postInstallFlags reads info/paths.json as conda-index does for
// channeldata.json: a file with a prefix placeholder in binary or text
// mode, files under etc/conda/activate.d or deactivate.d, and link
// scripts (*/.*-pre-link.* and the like). Anything unreadable gives no
// flags.
func postInstallFlags(pathsJSON []byte) uint8 {
	if len(pathsJSON) == 0 {
		return 0
	}
	var doc struct {
		Paths []map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(pathsJSON, &doc); err != nil {
		return 0
	}
	var flags uint8
	for _, p := range doc.Paths {
		if ph, _ := p["prefix_placeholder"].(string); ph != "" {
			switch p["file_mode"] {
			case "binary":
				flags |= piBinaryPrefix
			case "text":
				flags |= piTextPrefix
			}
		}
		path, _ := p["_path"].(string)
		if strings.HasPrefix(path, "etc/conda/activate.d") {
			flags |= piActivateD
		}
		if strings.HasPrefix(path, "etc/conda/deactivate.d") {
			flags |= piDeactivateD
		}
		for f, re := range linkScriptRE {
			if flags&f == 0 && re.MatchString(path) {
				flags |= f
			}
		}
	}
	return flags
}

// channelDataReplaceKeys are taken from the newest version of a package
// (conda-index's "keep newer value" list).
var channelDataReplaceKeys = []string{
	"description", "dev_url", "doc_url", "doc_source_url", "home", "license",
	"source_url", "source_git_url", "summary", "icon_url", "icon_hash", "tags",
	"identifiers", "keywords", "recipe_origin", "version",
}

// channelPackage is one entry of channeldata.json's "packages" as it is
// built.
type channelPackage struct {
	fields     map[string]canonjson.Value
	flags      uint8
	subdirs    map[string]bool
	runExports map[string]canonjson.Value
	timestamp  int64
}

// channelData builds channeldata.json from the indexed subdirs, as
// conda-index --channeldata does on a channel without an earlier
// channeldata.json (conda-index merges into an existing one; this one
// is built afresh each run from the subdirs of the run):
//
//   - per subdir (in name order), the records of repodata.json (the .tar.bz2
//     ones only without a .conda twin), and per name and version the one
//     with the highest timestamp, in file name order;
//   - each adds to its package: description, dev_url, doc_url,
//     doc_source_url, home, license, summary, tags, identifiers, keywords,
//     recipe_origin, icon_url, icon_hash and version, from about.json
//     overlaid with the record, taken from the newest version (by
//     [VersionOrder], then timestamp) where non-empty; binary_prefix,
//     text_prefix, activate.d, deactivate.d, pre_link, post_link and
//     pre_unlink from paths.json, true if true for any; the sorted subdirs;
//     run_exports per version (from info/run_exports.json, when
//     non-empty); and timestamp, in seconds, of the last one added (as
//     conda-index);
//   - null values are left out.
//
// source_url and source_git_url, which conda-index takes from the recipe's
// meta.yaml, are not written (the recipe is not read).
func channelData(subs []*subdirState) (canonjson.Value, error) {
	pkgs := map[string]*channelPackage{}
	var subdirs []string
	for _, s := range subs {
		subdirs = append(subdirs, s.name)
		if s.patched == nil {
			continue
		}
		entries := map[string]cacheEntry{}
		s.indexed(func(f *pkgFile) { entries[f.name] = f.entry })
		type group struct {
			fn  string
			rec canonjson.Value
			ts  float64
		}
		var order []string
		groups := map[string]*group{}
		visit := func(fn string, rec canonjson.Value) {
			name, _ := rec.Get("name")
			ver, _ := rec.Get("version")
			key := string(canonjson.Marshal(name)) + "\x00" + string(canonjson.Marshal(ver))
			ts := numberOf(rec, "timestamp")
			g := groups[key]
			if g == nil {
				order = append(order, key)
				groups[key] = &group{fn, rec, ts}
			} else if g.ts < ts {
				g.fn, g.rec, g.ts = fn, rec, ts
			}
		}
		for _, fn := range slices.Sorted(maps.Keys(s.patched.PackagesConda)) {
			visit(fn, s.patched.PackagesConda[fn])
		}
		for _, fn := range slices.Sorted(maps.Keys(s.patched.Packages)) {
			if _, twin := s.patched.PackagesConda[strings.TrimSuffix(fn, ".tar.bz2")+".conda"]; !twin {
				visit(fn, s.patched.Packages[fn])
			}
		}
		for _, key := range order {
			g := groups[key]
			e := entries[g.fn]
			data, err := channelRecordData(e, g.rec)
			if err != nil {
				return canonjson.Value{}, fmt.Errorf("%s/%s: %w", s.name, g.fn, err)
			}
			nameV, ok := data["name"]
			if !ok || nameV.Kind() != canonjson.String {
				continue
			}
			name := nameV.Str()
			p := pkgs[name]
			if p == nil {
				p = &channelPackage{fields: map[string]canonjson.Value{}, subdirs: map[string]bool{}, runExports: map[string]canonjson.Value{}}
				pkgs[name] = p
			}
			dataV := "0"
			if v, ok := data["version"]; ok && v.Kind() == canonjson.String {
				dataV = v.Str()
			}
			erecV := "0"
			if v, ok := p.fields["version"]; ok && v.Kind() == canonjson.String {
				erecV = v.Str()
			}
			ts := makeSeconds(numberOf(g.rec, "timestamp"))
			newer := false
			if a, err := ParseVersion(dataV); err == nil {
				if b, err := ParseVersion(erecV); err == nil {
					newer = a.Compare(b) > 0
				}
			}
			if !newer && dataV == erecV && ts > p.timestamp {
				newer = true
			}
			for _, k := range channelDataReplaceKeys {
				if v, ok := data[k]; ok && truthy(v) {
					if old, has := p.fields[k]; newer || !has || !truthy(old) {
						p.fields[k] = v
					}
				}
			}
			p.flags |= e.PostInstall
			p.subdirs[s.name] = true
			if re := runExportsOf(e); re.Len() > 0 {
				p.runExports[dataV] = re
			}
			p.timestamp = ts
		}
	}
	out := map[string]canonjson.Value{}
	for name, p := range pkgs {
		m := map[string]canonjson.Value{}
		for k, v := range p.fields {
			if v.Kind() != canonjson.Null {
				m[k] = v
			}
		}
		for _, pi := range postInstallKeys {
			m[pi.key] = canonjson.NewBool(p.flags&pi.flag != 0)
		}
		sd := slices.Sorted(maps.Keys(p.subdirs))
		var err error
		if m["subdirs"], err = canonjson.FromGo(sd); err != nil {
			return canonjson.Value{}, err
		}
		if m["run_exports"], err = canonjson.NewObject(p.runExports); err != nil {
			return canonjson.Value{}, err
		}
		m["timestamp"] = canonjson.NewInt(p.timestamp)
		if out[name], err = canonjson.NewObject(m); err != nil {
			return canonjson.Value{}, err
		}
	}
	pv, err := canonjson.NewObject(out)
	if err != nil {
		return canonjson.Value{}, err
	}
	slices.Sort(subdirs)
	sv, err := canonjson.FromGo(slices.Compact(subdirs))
	if err != nil {
		return canonjson.Value{}, err
	}
	return canonjson.NewObject(map[string]canonjson.Value{
		"channeldata_version": canonjson.NewInt(1), "packages": pv, "subdirs": sv})
}

// channelRecordData merges what conda-index's load_all_from_cache merges
// for a package, minus the recipe: about.json, with newlines in
// description and summary replaced by spaces, then the record of
// repodata.json.
func channelRecordData(e cacheEntry, rec canonjson.Value) (map[string]canonjson.Value, error) {
	data := map[string]canonjson.Value{}
	merge := func(v canonjson.Value) {
		if v.Kind() != canonjson.Object {
			return
		}
		for _, m := range v.Members() {
			data[string(m.Key)] = m.Value
		}
	}
	if len(e.About) > 0 {
		if v, err := canonjson.Parse(e.About); err == nil {
			merge(v)
		}
	}
	// conda-index merges the cached record here; the record of
	// repodata.json, merged last, has every key of it (patches set keys,
	// they never delete one), so it is left out.
	for _, k := range []string{"description", "summary"} {
		v, ok := data[k]
		if !ok {
			continue
		}
		var s string
		switch v.Kind() {
		case canonjson.String:
			s = v.Str()
		case canonjson.Array:
			var b strings.Builder
			okAll := true
			for i := range v.Len() {
				if e := v.Index(i); e.Kind() == canonjson.String {
					b.WriteString(e.Str())
				} else {
					okAll = false
				}
			}
			if !okAll {
				continue
			}
			s = b.String()
		default:
			continue
		}
		nv, err := canonjson.NewString(strings.ReplaceAll(strings.TrimSpace(s), "\n", " "))
		if err != nil {
			return nil, err
		}
		data[k] = nv
	}
	merge(rec)
	return data, nil
}

// truthy is Python's truth value of a JSON value.
func truthy(v canonjson.Value) bool {
	switch v.Kind() {
	case canonjson.Null:
		return false
	case canonjson.Bool:
		return v.Bool()
	case canonjson.String:
		return v.Str() != ""
	case canonjson.Array, canonjson.Object:
		return v.Len() > 0
	case canonjson.Number:
		f, err := strconv.ParseFloat(v.NumberText(), 64)
		return err != nil || f != 0
	}
	return true
}

func numberOf(rec canonjson.Value, key string) float64 {
	v, ok := rec.Get(key)
	if !ok || v.Kind() != canonjson.Number {
		return 0
	}
	f, _ := strconv.ParseFloat(v.NumberText(), 64)
	return f
}

// makeSeconds is conda-index's _make_seconds: an integer timestamp, in
// seconds when it was given in milliseconds.
func makeSeconds(ts float64) int64 {
	n := int64(ts)
	if n > 253402300799 {
		n /= 1000
	}
	return n
}

// writeChannelData writes channeldata.json at the top of the channel:
// compact with a final newline, or indented (conda-index's --no-compact)
// with one final newline, as conda-index's test channel has it.
func writeChannelData(ctx context.Context, st storage.Store, subs []*subdirState, opts Options, res *Result) error {
	v, err := channelData(subs)
	if err != nil {
		return fmt.Errorf("%s: %w", ChannelDataFile, err)
	}
	data := opts.Layout.Marshal(v)
	if opts.Layout == Compact {
		data = append(data, '\n')
	}
	top := &subdirState{ctx: ctx, st: st, path: st.Location("")}
	if err := top.listTop(); err != nil {
		return err
	}
	if _, err := top.writeOutput(ChannelDataFile, data, true); err != nil {
		return err
	}
	res.Written = append(res.Written, top.res.Written...)
	res.Unchanged = append(res.Unchanged, top.res.Unchanged...)
	res.Deleted = append(res.Deleted, top.res.Deleted...)
	return nil
}

// listTop lists the channel's top into s.listed, for a state that writes
// there (channeldata.json).
func (s *subdirState) listTop() error {
	objs, err := s.st.List(s.ctx, "")
	if err != nil {
		return err
	}
	s.listed = make(map[string]storage.Object, len(objs))
	for _, o := range objs {
		if !o.Dir {
			s.listed[o.Name] = o
		}
	}
	return nil
}

package index

import (
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/internal/workpool"
)

// Repodata is the index of one subdir as it is built, patched and signed
// before serialization: the records by file name and the removed list.
// Records are [canonjson.Value]s so that every field and number survives
// exactly.
type Repodata struct {
	// Subdir is written as info.subdir.
	Subdir string
	// Packages maps .tar.bz2 file names to records.
	Packages map[string]canonjson.Value
	// PackagesConda maps .conda file names to records.
	PackagesConda map[string]canonjson.Value
	// Removed lists file names removed by patches; serialized sorted.
	Removed []string
}

// NewRepodata returns an empty index of subdir.
func NewRepodata(subdir string) *Repodata {
	return &Repodata{Subdir: subdir, Packages: map[string]canonjson.Value{},
		PackagesConda: map[string]canonjson.Value{}, Removed: []string{}}
}

// Add stores record under filename, in Packages or PackagesConda by the
// file name's extension.
func (r *Repodata) Add(filename string, record canonjson.Value) error {
	_, format, err := condapkg.ParseFilename(filename)
	if err != nil {
		return err
	}
	if record.Kind() != canonjson.Object {
		return fmt.Errorf("%s: record is a JSON %s, not an object", filename, record.Kind())
	}
	if format == condapkg.Conda {
		r.PackagesConda[filename] = record
	} else {
		r.Packages[filename] = record
	}
	return nil
}

// Len returns the number of records.
func (r *Repodata) Len() int { return len(r.Packages) + len(r.PackagesConda) }

// Record returns the record of filename, from Packages or PackagesConda.
func (r *Repodata) Record(filename string) (canonjson.Value, bool) {
	if strings.HasSuffix(filename, ".conda") {
		v, ok := r.PackagesConda[filename]
		return v, ok
	}
	v, ok := r.Packages[filename]
	return v, ok
}

// Clone returns a copy of r whose maps and slices can be changed without
// affecting r. Records themselves are immutable values and are shared.
func (r *Repodata) Clone() *Repodata {
	c := &Repodata{Subdir: r.Subdir, Packages: maps.Clone(r.Packages),
		PackagesConda: maps.Clone(r.PackagesConda), Removed: slices.Clone(r.Removed)}
	if c.Packages == nil {
		c.Packages = map[string]canonjson.Value{}
	}
	if c.PackagesConda == nil {
		c.PackagesConda = map[string]canonjson.Value{}
	}
	if c.Removed == nil {
		c.Removed = []string{}
	}
	return c
}

// Value returns the repodata.json document of r: the keys "info" (holding
// "subdir"), "packages", "packages.conda", "removed" (sorted) and
// "repodata_version" (1), as conda-index writes them. Signatures are
// added by the repodata package's signer (see [Options.Signers]).
func (r *Repodata) Value() (canonjson.Value, error) {
	sub, err := canonjson.NewString(r.Subdir)
	if err != nil {
		return canonjson.Value{}, fmt.Errorf("subdir: %w", err)
	}
	info, err := canonjson.NewObject(map[string]canonjson.Value{"subdir": sub})
	if err != nil {
		return canonjson.Value{}, err
	}
	pk, err := canonjson.NewObject(r.Packages)
	if err != nil {
		return canonjson.Value{}, fmt.Errorf("packages: %w", err)
	}
	pc, err := canonjson.NewObject(r.PackagesConda)
	if err != nil {
		return canonjson.Value{}, fmt.Errorf("packages.conda: %w", err)
	}
	removed := slices.Clone(r.Removed)
	slices.Sort(removed)
	rm, err := canonjson.FromGo(append([]string{}, removed...))
	if err != nil {
		return canonjson.Value{}, fmt.Errorf("removed: %w", err)
	}
	top := map[string]canonjson.Value{
		"info":             info,
		"packages":         pk,
		"packages.conda":   pc,
		"removed":          rm,
		"repodata_version": canonjson.NewInt(1),
	}
	return canonjson.NewObject(top)
}

// Marshal serializes r in the given layout: see [Layout]. The result is
// the bytes of layout.Marshal(r.Value()), produced with the records
// serialized on all cores.
func (r *Repodata) Marshal(layout Layout) ([]byte, error) {
	sub, err := canonjson.NewString(r.Subdir)
	if err != nil {
		return nil, fmt.Errorf("subdir: %w", err)
	}
	pk, err := marshalSection(r.Packages, layout)
	if err != nil {
		return nil, fmt.Errorf("packages: %w", err)
	}
	pc, err := marshalSection(r.PackagesConda, layout)
	if err != nil {
		return nil, fmt.Errorf("packages.conda: %w", err)
	}
	removed := slices.Clone(r.Removed)
	slices.Sort(removed)
	for _, fn := range removed {
		if _, err := canonjson.NewString(fn); err != nil {
			return nil, fmt.Errorf("removed: %w", err)
		}
	}
	out := make([]byte, 0, len(pk)+len(pc)+256)
	if layout == Indented {
		out = append(out, "{\n  \"info\": {\n    \"subdir\": "...)
		out = canonjson.AppendIndent(out, sub, 2)
		out = append(out, "\n  },\n  \"packages\": "...)
		out = append(out, pk...)
		out = append(out, ",\n  \"packages.conda\": "...)
		out = append(out, pc...)
		out = append(out, ",\n  \"removed\": "...)
		if len(removed) == 0 {
			out = append(out, "[]"...)
		} else {
			out = append(out, '[')
			for i, fn := range removed {
				if i > 0 {
					out = append(out, ',')
				}
				out = append(out, "\n    "...)
				out = canonjson.AppendString(out, fn)
			}
			out = append(out, "\n  ]"...)
		}
		return append(out, ",\n  \"repodata_version\": 1\n}\n"...), nil
	}
	out = append(out, `{"info":{"subdir":`...)
	out = canonjson.AppendIndent(out, sub, 0)
	out = append(out, `},"packages":`...)
	out = append(out, pk...)
	out = append(out, `,"packages.conda":`...)
	out = append(out, pc...)
	out = append(out, `,"removed":[`...)
	for i, fn := range removed {
		if i > 0 {
			out = append(out, ',')
		}
		out = canonjson.AppendString(out, fn)
	}
	return append(out, `],"repodata_version":1}`...), nil
}

// marshalSection serializes a "packages" or "packages.conda" object as it
// appears at nesting level 1, in chunks of records on all cores.
func marshalSection(recs map[string]canonjson.Value, layout Layout) ([]byte, error) {
	if len(recs) == 0 {
		return []byte("{}"), nil
	}
	names := make([]string, 0, len(recs))
	for fn := range recs {
		if _, err := canonjson.NewString(fn); err != nil {
			return nil, fmt.Errorf("file name %q: %w", fn, err)
		}
		names = append(names, fn)
	}
	slices.Sort(names)
	const chunk = 256
	parts := make([][]byte, (len(names)+chunk-1)/chunk)
	parallel(len(parts), func(c int) {
		var b, tmp []byte
		for i := c * chunk; i < min(len(names), (c+1)*chunk); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			if layout == Indented {
				b = append(b, "\n    "...)
				b = canonjson.AppendString(b, names[i])
				b = append(b, ':', ' ')
				b = canonjson.AppendIndent(b, recs[names[i]], 2)
				continue
			}
			b = canonjson.AppendString(b, names[i])
			b = append(b, ':')
			tmp = canonjson.AppendIndent(tmp[:0], recs[names[i]], 0)
			b = compactCanonical(b, tmp)
		}
		parts[c] = b
	})
	n := 2
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n+4)
	out = append(out, '{')
	for _, p := range parts {
		out = append(out, p...)
	}
	if layout == Indented {
		out = append(out, "\n  "...)
	}
	return append(out, '}'), nil
}

// parallel calls fn(0) ... fn(n-1) on all cores and waits for them.
func parallel(n int, fn func(i int)) {
	workpool.Run(runtime.GOMAXPROCS(0), n, 1, func(_, i, _ int) error { fn(i); return nil })
}

// Layout is the text layout of a written JSON file. Both layouts sort keys
// and escape like Python's json.dumps with ensure_ascii (channel-index.md
// §6): they differ only in whitespace, so a record's canonical bytes, and
// hence its signature, do not depend on the layout.
type Layout int

const (
	// Compact is conda-index's default: json.dumps(data, sort_keys=True,
	// separators=(",", ":")), no whitespace, no final newline.
	Compact Layout = iota
	// Indented is conda-index's --no-compact: json.dumps(data,
	// sort_keys=True, indent=2) followed by one "\n".
	Indented
)

// Marshal returns v serialized in layout l.
func (l Layout) Marshal(v canonjson.Value) []byte {
	b := canonjson.Marshal(v)
	if l == Indented {
		return append(b, '\n')
	}
	return compactCanonical(b[:0], b)
}

// String returns "compact" or "indented".
func (l Layout) String() string {
	if l == Indented {
		return "indented"
	}
	return "compact"
}

// compactCanonical appends canonical (indented canonjson output) to dst
// without the whitespace outside strings, which is Python's compact form
// of the same value: canonical strings are pure ASCII with every control
// character escaped, so the only whitespace outside them is layout. dst may
// alias canonical: the output is never longer than what was read.
func compactCanonical(dst, canonical []byte) []byte {
	inString := false
	for i := 0; i < len(canonical); i++ {
		c := canonical[i]
		if inString {
			dst = append(dst, c)
			switch c {
			case '\\':
				i++
				dst = append(dst, canonical[i])
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\n':
			continue
		case '"':
			inString = true
		}
		dst = append(dst, c)
	}
	return dst
}

package envaudit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strings"

	"github.com/condatrust/condatrust/condapkg"
)

// Status is the finding on one path.
type Status string

// The findings of an audit.
const (
	// Modified: the installed file differs from what the archive installs
	// (size, SHA-256, link target or file type).
	Modified Status = "modified"
	// Missing: the archive installs the path, the prefix does not have it.
	Missing Status = "missing"
	// Unexpected: a file conda did not install from the archive (see
	// [Env.Audit] and [Env.Unexpected]).
	Unexpected Status = "unexpected"
	// Unchecked: the path could not be checked (unreadable, or too large
	// to relocate); the reason says why. Not a verdict.
	Unchecked Status = "unchecked"
)

// Finding is one path that is not as the archive installs it.
type Finding struct {
	// Path is slash-separated and relative to the prefix.
	Path   string `json:"path"`
	Status Status `json:"status"`
	// Reason says what differs, in words.
	Reason string `json:"reason"`
}

// Result is the audit of one package.
type Result struct {
	// Checked is the number of paths of the archive compared with the
	// prefix.
	Checked int `json:"checked"`
	// Findings are the paths that are not as the archive installs them,
	// sorted by path.
	Findings []Finding `json:"findings"`
}

// Count returns the number of findings with status s.
func (r *Result) Count(s Status) int {
	n := 0
	for _, f := range r.Findings {
		if f.Status == s {
			n++
		}
	}
	return n
}

// Archive is a package archive as the audit reads it: its members in
// archive order, each regular file with a reader of its bytes, with the
// semantics of [condapkg.Walk]. Walk may be called twice.
type Archive interface {
	Walk(fn func(m condapkg.Member, r io.Reader) error) error
}

// ArchiveFile is the package archive at a path, read with
// [condapkg.Walk] and its default limits.
type ArchiveFile string

// Walk implements [Archive].
func (p ArchiveFile) Walk(fn func(m condapkg.Member, r io.Reader) error) error {
	return condapkg.Walk(string(p), condapkg.ExtractOptions{}, fn)
}

// DefaultMaxRelocated is the default of [Env.MaxRelocated]: 256 MiB.
const DefaultMaxRelocated = 256 << 20

// Env is an installed environment as the audit reads it.
type Env struct {
	// Files reads the prefix folder: os.DirFS(prefix). For symbolic links
	// to be seen as links it must implement [fs.ReadLinkFS] (os.DirFS
	// does).
	Files fs.FS
	// Prefix is the absolute path conda installed the environment at; it
	// replaces prefix placeholders (see [Relocation]).
	Prefix string
	// HostOS is the GOOS of the machine conda ran on; "" means
	// runtime.GOOS.
	HostOS string
	// SitePackages is where conda put the site-packages/ files of noarch:
	// python packages, such as "lib/python3.12/site-packages"; "" means
	// found from each package's conda-meta "files".
	SitePackages string
	// MaxRelocated caps a file with a prefix placeholder, which is held in
	// memory to be relocated; default [DefaultMaxRelocated]. A larger one
	// is reported unchecked.
	MaxRelocated int64
}

// member is what the audit keeps of one archive member.
type member struct {
	typ    condapkg.MemberType
	size   int64
	sha    string // of the bytes in the archive
	link   string // symlink target
	source string // the member whose bytes these are (itself, or a hard link's target)
	// For a relocated file: the size and digest of the bytes conda writes,
	// or why they could not be computed.
	relSize int64
	relSHA  string
	relNote string
}

// Audit compares the files one package installed in the environment
// with its package archive a, whose bytes the caller has verified. meta
// is the package's conda-meta record. The rules:
//
//  1. What the archive installs is its info/paths.json ([ParsePaths]);
//     an archive without one installs its members outside info/ as they
//     are (as conda installs packages older than paths.json; their
//     info/has_prefix is not applied). For a noarch: python package,
//     site-packages/ goes to the environment's site-packages folder and
//     python-scripts/ to bin (Scripts on Windows), as conda moves them.
//  2. paths.json must describe the archive: every path is a member, of
//     the same type, and its sha256 and size_in_bytes, when given, are
//     those of the member. Otherwise the package cannot be checked: a
//     [*FormatError].
//  3. A file must be a regular file in the prefix (missing if absent)
//     of the size and SHA-256 of the member (modified otherwise). With a
//     prefix_placeholder, the member is first relocated with
//     [Relocation.Apply] for e.Prefix and the package's subdir, as conda
//     does when installing it.
//  4. A symbolic link must be a symbolic link with the member's target;
//     a directory entry a directory.
//  5. A path in meta.Files that the archive does not install, and that
//     conda does not generate (meta.Generated), is unexpected.
//
// Findings are verdicts; the error is for an archive that cannot be read
// or is malformed (it has nothing to do with the installed files), and
// is returned without findings.
func (e *Env) Audit(a Archive, meta *Meta) (*Result, error) {
	hostOS := e.HostOS
	if hostOS == "" {
		hostOS = runtime.GOOS
	}
	reloc := NewRelocation(e.Prefix, meta.Subdir, hostOS)
	maxRel := e.MaxRelocated
	if maxRel <= 0 {
		maxRel = DefaultMaxRelocated
	}
	members := map[string]*member{}
	links := map[string][]string{} // hard links by the member they point to
	var paths *Paths
	var byPath map[string]*PathEntry
	// relocate reads a member with a placeholder (at most maxRel bytes)
	// and computes what conda writes for each path whose bytes it holds.
	relocate := func(m *member, r io.Reader, size int64) error {
		if size > maxRel {
			note := fmt.Sprintf("%d bytes with a prefix placeholder, more than the %d bytes relocated in memory", size, maxRel)
			for _, t := range membersOf(members, links, m.source) {
				t.relNote = note
			}
			return hashInto(m, r)
		}
		data, err := io.ReadAll(io.LimitReader(r, size+1))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		m.size, m.sha = int64(len(data)), hex.EncodeToString(sum[:])
		for name, t := range membersOf(members, links, m.source) {
			ent := byPath[name]
			if ent == nil || ent.Placeholder == "" {
				continue
			}
			out, err := reloc.Apply(data, ent.Placeholder, ent.Mode)
			if err != nil {
				t.relNote = err.Error()
				continue
			}
			sum := sha256.Sum256(out)
			t.relSize, t.relSHA, t.relNote = int64(len(out)), hex.EncodeToString(sum[:]), ""
		}
		return nil
	}
	pending := map[string]bool{} // members to read again for relocation
	err := a.Walk(func(cm condapkg.Member, r io.Reader) error {
		m := &member{typ: cm.Type, size: cm.Size, link: cm.Linkname, source: cm.Name}
		members[cm.Name] = m
		switch cm.Type {
		case condapkg.MemberHardlink:
			src := members[cm.Linkname]
			if src == nil {
				return fmt.Errorf("%s: hard link to %q, which is not an earlier member", cm.Name, cm.Linkname)
			}
			*m = *src
			m.link = ""
			links[m.source] = append(links[m.source], cm.Name)
			if byPath != nil && byPath[cm.Name] != nil && byPath[cm.Name].Placeholder != "" {
				pending[m.source] = true
			}
			return nil
		case condapkg.MemberFile:
		default:
			return nil
		}
		if cm.Name == PathsJSON {
			data, err := io.ReadAll(io.LimitReader(r, MaxPathsJSON+1))
			if err != nil {
				return err
			}
			if paths, err = ParsePaths(data); err != nil {
				return err
			}
			byPath = make(map[string]*PathEntry, len(paths.Entries))
			for i := range paths.Entries {
				ent := &paths.Entries[i]
				byPath[ent.Path] = ent
				if ent.Placeholder != "" && members[ent.Path] != nil {
					pending[members[ent.Path].source] = true
				}
			}
			return nil
		}
		if byPath != nil && byPath[cm.Name] != nil && byPath[cm.Name].Placeholder != "" {
			return relocate(m, r, cm.Size)
		}
		return hashInto(m, r)
	})
	if err != nil {
		return nil, err
	}
	if len(pending) > 0 {
		// Files with a placeholder came before info/paths.json: read them
		// again, now that their placeholder is known.
		err := a.Walk(func(cm condapkg.Member, r io.Reader) error {
			if cm.Type != condapkg.MemberFile || !pending[cm.Name] {
				return nil
			}
			return relocate(members[cm.Name], r, cm.Size)
		})
		if err != nil {
			return nil, err
		}
	}
	entries, err := describe(paths, members)
	if err != nil {
		return nil, err
	}
	res := &Result{Findings: []Finding{}}
	installed := map[string]bool{}
	sitePackages := e.SitePackages
	for _, ent := range entries {
		target := ent.Path
		if meta.NoarchPython {
			if sitePackages == "" {
				sitePackages = findSitePackages(entries, meta.Files)
			}
			target = noarchTarget(target, sitePackages, reloc.Windows)
		}
		installed[target] = true
		res.Checked++
		if f := e.check(target, &ent, members[ent.Path]); f != nil {
			res.Findings = append(res.Findings, *f)
		}
	}
	generated := map[string]bool{}
	for _, g := range meta.Generated {
		generated[g] = true
	}
	for _, f := range meta.Files {
		if !installed[f] && !generated[f] {
			res.Findings = append(res.Findings, Finding{Path: f, Status: Unexpected,
				Reason: "listed in " + metaName(meta) + " but not installed by the package archive"})
		}
	}
	sort.Slice(res.Findings, func(i, j int) bool { return res.Findings[i].Path < res.Findings[j].Path })
	return res, nil
}

func metaName(m *Meta) string {
	if m.File == "" {
		return "its conda-meta record"
	}
	return path.Base(strings.ReplaceAll(m.File, "\\", "/"))
}

// membersOf returns the members whose bytes are those of member source
// (itself and the hard links to it), by name.
func membersOf(members map[string]*member, links map[string][]string, source string) map[string]*member {
	out := map[string]*member{source: members[source]}
	for _, name := range links[source] {
		out[name] = members[name]
	}
	return out
}

func hashInto(m *member, r io.Reader) error {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return err
	}
	m.size, m.sha = n, hex.EncodeToString(h.Sum(nil))
	return nil
}

// describe returns what the archive installs (rule 1) after checking
// paths.json against the members (rule 2).
func describe(paths *Paths, members map[string]*member) ([]PathEntry, error) {
	if paths == nil {
		var out []PathEntry
		for name, m := range members {
			if name == "info" || strings.HasPrefix(name, "info/") {
				continue
			}
			switch m.typ {
			case condapkg.MemberFile, condapkg.MemberHardlink:
				out = append(out, PathEntry{Path: name, Type: Hardlink, SHA256: m.sha, Size: m.size})
			case condapkg.MemberSymlink:
				out = append(out, PathEntry{Path: name, Type: Softlink, Size: -1})
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
		return out, nil
	}
	for _, ent := range paths.Entries {
		m := members[ent.Path]
		bad := func(format string, args ...any) error {
			return formatErr(PathsJSON, ent.Path, "does not describe the archive: "+format, args...)
		}
		if m == nil {
			return nil, bad("no such member")
		}
		switch ent.Type {
		case Hardlink:
			if m.typ != condapkg.MemberFile && m.typ != condapkg.MemberHardlink {
				return nil, bad("a file in paths.json, not in the archive")
			}
			if ent.SHA256 != "" && m.sha != "" && ent.SHA256 != m.sha {
				return nil, bad("sha256 %s, the member's is %s", ent.SHA256, m.sha)
			}
			if ent.Size >= 0 && m.sha != "" && ent.Size != m.size {
				return nil, bad("size_in_bytes %d, the member has %d bytes", ent.Size, m.size)
			}
		case Softlink:
			if m.typ != condapkg.MemberSymlink {
				return nil, bad("a symbolic link in paths.json, not in the archive")
			}
		case Directory:
			if m.typ != condapkg.MemberDir {
				return nil, bad("a directory in paths.json, not in the archive")
			}
		}
	}
	return paths.Entries, nil
}

// check compares one installed path with what the archive installs.
func (e *Env) check(target string, ent *PathEntry, m *member) *Finding {
	f := func(s Status, format string, args ...any) *Finding {
		return &Finding{Path: target, Status: s, Reason: fmt.Sprintf(format, args...)}
	}
	fi, err := fs.Lstat(e.Files, target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return f(Missing, "not in the prefix")
	case err != nil:
		return f(Unchecked, "cannot read it: %v", err)
	}
	switch ent.Type {
	case Directory:
		if !fi.IsDir() {
			return f(Modified, "%s, expected a directory", kindOf(fi))
		}
		return nil
	case Softlink:
		if fi.Mode()&fs.ModeSymlink == 0 {
			return f(Modified, "%s, expected a symbolic link to %q", kindOf(fi), m.link)
		}
		got, err := fs.ReadLink(e.Files, target)
		if err != nil {
			return f(Unchecked, "cannot read the link: %v", err)
		}
		if got != m.link {
			return f(Modified, "a symbolic link to %q, expected %q", got, m.link)
		}
		return nil
	}
	if !fi.Mode().IsRegular() {
		return f(Modified, "%s, expected a file", kindOf(fi))
	}
	wantSize, wantSHA, how := m.size, m.sha, ""
	if ent.Placeholder != "" {
		if m.relNote != "" {
			return f(Unchecked, "cannot relocate it: %s", m.relNote)
		}
		wantSize, wantSHA, how = m.relSize, m.relSHA, fmt.Sprintf(" (after replacing the %s placeholder with %s)", ent.Mode, e.Prefix)
	}
	if fi.Size() != wantSize {
		return f(Modified, "%d bytes, expected %d%s", fi.Size(), wantSize, how)
	}
	got, err := hashFile(e.Files, target, wantSize)
	if err != nil {
		return f(Unchecked, "cannot read it: %v", err)
	}
	if got != wantSHA {
		return f(Modified, "sha256 %s, expected %s%s", got, wantSHA, how)
	}
	return nil
}

func kindOf(fi fs.FileInfo) string {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return "a symbolic link"
	case fi.IsDir():
		return "a directory"
	case fi.Mode().IsRegular():
		return "a file"
	}
	return "a special file"
}

// hashFile returns the SHA-256 of an installed file, reading at most
// size+1 bytes (a file that grew is then a mismatch anyway).
func hashFile(fsys fs.FS, name string, size int64) (string, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, size+1)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// noarchTarget maps a noarch: python path to where conda installs it.
func noarchTarget(p, sitePackages string, windows bool) string {
	if rest, ok := strings.CutPrefix(p, "site-packages/"); ok && sitePackages != "" {
		return sitePackages + "/" + rest
	}
	if rest, ok := strings.CutPrefix(p, "python-scripts/"); ok {
		if windows {
			return "Scripts/" + rest
		}
		return "bin/" + rest
	}
	return p
}

// findSitePackages finds, from a package's conda-meta files, the folder
// its site-packages/ paths went to.
func findSitePackages(entries []PathEntry, files []string) string {
	for _, ent := range entries {
		rest, ok := strings.CutPrefix(ent.Path, "site-packages/")
		if !ok {
			continue
		}
		for _, f := range files {
			if sp, ok := strings.CutSuffix(f, "/"+rest); ok && strings.HasSuffix(sp, "site-packages") {
				return sp
			}
		}
	}
	return ""
}

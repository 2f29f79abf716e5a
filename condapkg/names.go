package condapkg

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// Format is a package archive format.
type Format int

const (
	// TarBz2 is format v1: a bzip2-compressed tar of the package directory.
	TarBz2 Format = iota + 1
	// Conda is format v2: an uncompressed zip of metadata.json and two
	// zstd-compressed tars, info-<stem>.tar.zst and pkg-<stem>.tar.zst.
	Conda
)

// Ext returns the file name extension of f: ".tar.bz2" or ".conda".
func (f Format) Ext() string {
	switch f {
	case TarBz2:
		return ".tar.bz2"
	case Conda:
		return ".conda"
	}
	return ""
}

// String returns the extension without the dot ("tar.bz2", "conda").
func (f Format) String() string {
	if e := f.Ext(); e != "" {
		return e[1:]
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFilename splits the base name of a package file name into its stem
// (<name>-<version>-<build>) and format. Like conda, it matches the
// lower-case extensions ".conda" and ".tar.bz2" exactly. Any other name gives
// an error wrapping [ErrNotPackage].
func ParseFilename(filename string) (stem string, format Format, err error) {
	base := filepath.Base(filename)
	switch {
	case strings.HasSuffix(base, ".conda"):
		stem, format = strings.TrimSuffix(base, ".conda"), Conda
	case strings.HasSuffix(base, ".tar.bz2"):
		stem, format = strings.TrimSuffix(base, ".tar.bz2"), TarBz2
	default:
		return "", 0, fmt.Errorf("condapkg: %s: %w", base, ErrNotPackage)
	}
	if stem == "" || stem == "." || strings.ContainsAny(stem, "/\x00") {
		return "", 0, fmt.Errorf("condapkg: %s: %w", base, ErrNotPackage)
	}
	return stem, format, nil
}

// cleanName normalises a member name: it strips leading "./" and trailing
// "/", collapses "//" and "/./", and returns "" for the archive root ("." or
// "./"). It returns a reason when the name is unsafe: absolute, with a ".."
// component, or containing a NUL byte.
func cleanName(raw string) (name, unsafe string) {
	if raw == "" {
		return "", "empty member name"
	}
	if strings.IndexByte(raw, 0) >= 0 {
		return "", "member name contains a NUL byte"
	}
	if strings.HasPrefix(raw, "/") {
		return "", "absolute member name"
	}
	for _, part := range strings.Split(raw, "/") {
		if part == ".." {
			return "", "member name has a \"..\" component"
		}
	}
	name = path.Clean(raw)
	if name == "." {
		return "", ""
	}
	return name, ""
}

// symlinkUnsafe returns why the symbolic link at member name, pointing at
// target, would point outside the package, or "" when it stays inside.
// The target is resolved against the link's directory, as the OS does.
func symlinkUnsafe(name, target string) string {
	switch {
	case target == "":
		return "symlink with an empty target"
	case strings.IndexByte(target, 0) >= 0:
		return "symlink target contains a NUL byte"
	case strings.HasPrefix(target, "/"):
		return fmt.Sprintf("symlink to absolute path %q", target)
	}
	// ".." is only allowed before the first name: after one, the OS resolves
	// it relative to wherever that name (maybe a link) leads, not lexically.
	named := false
	for _, part := range strings.Split(target, "/") {
		switch part {
		case "", ".":
		case "..":
			if named {
				return fmt.Sprintf("symlink target %q has \"..\" after a name", target)
			}
		default:
			named = true
		}
	}
	resolved := path.Join(path.Dir(name), target)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return fmt.Sprintf("symlink target %q points outside the package", target)
	}
	return ""
}

// isInfo reports whether the normalised member name is in the info/ folder.
func isInfo(name string) bool {
	return name == "info" || strings.HasPrefix(name, "info/")
}

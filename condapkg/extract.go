package condapkg

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
)

// DefaultMaxExtract is the default of [ExtractOptions.MaxSize]: 64 GiB.
const DefaultMaxExtract = 64 << 30

// ExtractOptions tunes [Extract]. The zero value gives the defaults.
type ExtractOptions struct {
	// MaxSize caps the decompressed tar bytes of the package, against
	// decompression bombs. Default [DefaultMaxExtract]; negative: no limit.
	MaxSize int64
}

// Extract unpacks the package archive at pkgPath into destDir, creating
// destDir if needed. Every name is checked as in [ReadAt] (no absolute
// names, no "..", no duplicates, no member below a link, no link leading
// out of the package) and all files are created through an [os.Root] on
// destDir, so nothing is written outside it even if a check were missed.
// Existing files are never overwritten: extract into an empty directory.
// Regular files keep their permission bits minus group/other write and
// set-id bits; directories are 0755; devices and fifos are refused. For a
// .conda, the info- and pkg- members are extracted (metadata.json is not),
// must together hold each name at most once, and pkg- may hold no info/
// file (only directory entries). On error, destDir may hold part of the
// package.
func Extract(pkgPath, destDir string, opts ExtractOptions) error {
	if _, _, err := ParseFilename(pkgPath); err != nil {
		return err
	}
	if err := os.MkdirAll(destDir, 0o755); err != nil {
		return fmt.Errorf("condapkg: %w", err)
	}
	root, err := os.OpenRoot(destDir)
	if err != nil {
		return fmt.Errorf("condapkg: %w", err)
	}
	defer root.Close()
	pkg := filepath.Base(pkgPath)
	// Walk makes every check; this only writes what it passes.
	return Walk(pkgPath, opts, func(m Member, r io.Reader) error {
		if err := create(root, m, r); err != nil {
			// A read error of the member's data (errTarData) stays
			// findable: Walk reports it as the archive's fault.
			return fmt.Errorf("condapkg: %s: %s: %w", pkg, m.Name, err)
		}
		return nil
	})
}

// create writes one member under root. Regular files keep their permission
// bits minus group/other write and set-id bits; directories are 0755.
func create(root *os.Root, m Member, r io.Reader) error {
	if dir := path.Dir(m.Name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	switch m.Type {
	case MemberDir:
		return root.MkdirAll(m.Name, 0o755)
	case MemberSymlink:
		return root.Symlink(m.Linkname, m.Name)
	case MemberHardlink:
		return root.Link(m.Linkname, m.Name)
	case MemberFile:
		perm := m.Mode&0o755 | 0o600
		f, err := root.OpenFile(m.Name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return fmt.Errorf("unexpected member type %d", m.Type) // excluded by Walk
}

// errTarData marks a failure while reading a member's data (rather than
// writing it), so it is reported as a stream error.
type errTarData struct{ err error }

func (e errTarData) Error() string { return e.err.Error() }

// tarData tags the read errors of r with errTarData.
type tarData struct{ r io.Reader }

func (t tarData) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		err = errTarData{err}
	}
	return n, err
}

package condapkg

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
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
	stem, format, err := ParseFilename(pkgPath)
	if err != nil {
		return err
	}
	limit := opts.MaxSize
	switch {
	case limit == 0:
		limit = DefaultMaxExtract
	case limit < 0:
		limit = math.MaxInt64
	}
	if err := os.MkdirAll(destDir, 0o755); err != nil {
		return fmt.Errorf("condapkg: %w", err)
	}
	root, err := os.OpenRoot(destDir)
	if err != nil {
		return fmt.Errorf("condapkg: %w", err)
	}
	defer root.Close()
	x := &extractor{root: root, pkg: filepath.Base(pkgPath), members: newMemberSet(), limit: limit}
	if format == TarBz2 {
		err = x.tarBz2(pkgPath)
	} else {
		err = x.conda(pkgPath, stem)
	}
	if err != nil {
		return err
	}
	if x.members.kinds[IndexJSONPath] != kindFile {
		return &FormatError{Package: x.pkg, Member: IndexJSONPath, Kind: ErrMissing, Reason: "no info/index.json in the archive"}
	}
	return nil
}

type extractor struct {
	root    *os.Root
	pkg     string
	members *memberSet
	limit   int64
}

func (x *extractor) tarBz2(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("condapkg: %w", err)
	}
	defer f.Close()
	raw := &errReader{r: f}
	lim := &limitReader{r: bzip2.NewReader(bufio.NewReaderSize(raw, 64<<10)), n: x.limit}
	err = x.tar(lim, "", "bzip2", false)
	if err != nil && raw.err != nil {
		return fmt.Errorf("condapkg: %s: %w", x.pkg, raw.err)
	}
	return err
}

func (x *extractor) conda(p, stem string) error {
	zr, err := zip.OpenReader(p)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		if _, ok := err.(*fs.PathError); ok {
			return fmt.Errorf("condapkg: %w", err)
		}
		return &FormatError{Package: x.pkg, Kind: ErrMalformed, Reason: "not a valid zip archive", Err: err}
	}
	defer zr.Close()
	byName := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		if byName[f.Name] != nil {
			return &FormatError{Package: x.pkg, Member: f.Name, Kind: ErrDuplicate, Reason: "zip member name occurs more than once"}
		}
		byName[f.Name] = f
	}
	info := "info-" + stem + ".tar.zst"
	if byName[info] == nil {
		return &FormatError{Package: x.pkg, Member: info, Kind: ErrMissing, Reason: "no such zip member"}
	}
	for _, name := range []string{info, "pkg-" + stem + ".tar.zst"} {
		f := byName[name]
		if f == nil {
			continue // a package may have no pkg- member
		}
		if err := x.condaMember(f, name != info); err != nil {
			return err
		}
	}
	return nil
}

func (x *extractor) condaMember(f *zip.File, payload bool) error {
	if f.Method != zip.Store {
		return &FormatError{Package: x.pkg, Member: f.Name, Kind: ErrMalformed,
			Reason: fmt.Sprintf("zip member uses compression method %d; .conda members must be STORED (0)", f.Method)}
	}
	rc, err := f.Open() // checks the CRC-32 at the end
	if err != nil {
		return &FormatError{Package: x.pkg, Member: f.Name, Kind: ErrMalformed, Reason: "cannot open zip member", Err: err}
	}
	defer rc.Close()
	dec, err := getZstd(rc)
	if err != nil {
		return &FormatError{Package: x.pkg, Member: f.Name, Kind: ErrMalformed, Reason: "zstd", Err: err}
	}
	defer putZstd(dec)
	lim := &limitReader{r: dec, n: x.limit}
	err = x.tar(lim, f.Name+":", "zstd", payload)
	x.limit = lim.n
	return err
}

// tar extracts the tar stream r, then reads r to the end so that the
// decompressor verifies its trailing checksums. payload marks a .conda's
// pkg- part, which may hold no info/ file.
func (x *extractor) tar(r *limitReader, prefix, codec string, payload bool) error {
	sc := newScanner(x.pkg, prefix, ReadOptions{MaxDecompressed: r.n}, codec, r)
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return sc.streamError(err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		sc.last = hdr.Name
		name, bad := cleanName(hdr.Name)
		if bad != "" {
			return sc.fail(hdr.Name, ErrUnsafePath, bad, nil)
		}
		if name == "" {
			if hdr.Typeflag != tar.TypeDir {
				return sc.fail(hdr.Name, ErrMalformed, "archive root is not a directory", nil)
			}
			continue
		}
		if payload {
			if reason := infoInPayload(name, hdr); reason != "" {
				return sc.fail(hdr.Name, ErrDuplicate, reason, nil)
			}
		}
		if kind, reason := x.members.add(name, hdr); kind != nil {
			return sc.fail(hdr.Name, kind, reason, nil)
		}
		if hdr.Size > r.n {
			return sc.fail(hdr.Name, ErrTooLarge, fmt.Sprintf("%d bytes, more than the %d-byte extraction limit", hdr.Size, sc.opts.MaxDecompressed), nil)
		}
		var content io.Reader = tr
		if name == IndexJSONPath {
			if hdr.Typeflag != tar.TypeReg {
				return sc.fail(hdr.Name, ErrMalformed, "not a regular file", nil)
			}
			if hdr.Size > DefaultMaxFileSize {
				return sc.fail(hdr.Name, ErrTooLarge, fmt.Sprintf("%d bytes, more than the %d-byte limit", hdr.Size, DefaultMaxFileSize), nil)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				return sc.streamError(err)
			}
			if _, err := parseIndexJSON(data); err != nil {
				return sc.fail(hdr.Name, ErrMalformed, "not a JSON object", err)
			}
			content = bytes.NewReader(data)
		}
		if err := x.create(name, hdr, content); err != nil {
			var te errTarData
			if errors.As(err, &te) {
				return sc.streamError(te.err)
			}
			return fmt.Errorf("condapkg: %s: %s%s: %w", x.pkg, prefix, hdr.Name, err)
		}
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return sc.streamError(err)
	}
	return nil
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

func (x *extractor) create(name string, hdr *tar.Header, tr io.Reader) error {
	if dir := path.Dir(name); dir != "." {
		if err := x.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.root.MkdirAll(name, 0o755)
	case tar.TypeSymlink:
		return x.root.Symlink(hdr.Linkname, name)
	case tar.TypeLink:
		target, _ := cleanName(hdr.Linkname) // checked by memberSet.add
		return x.root.Link(target, name)
	case tar.TypeReg:
		perm := fs.FileMode(hdr.Mode)&0o755 | 0o600
		f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tarData{tr})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return fmt.Errorf("unexpected member type %q", hdr.Typeflag) // excluded by memberSet.add
}

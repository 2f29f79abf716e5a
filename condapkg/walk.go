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
	"path/filepath"
)

// MemberType is the kind of a package member passed to [Walk].
type MemberType uint8

// The member types [Walk] passes; devices and fifos are refused.
const (
	MemberFile MemberType = iota + 1
	MemberDir
	MemberSymlink
	MemberHardlink
)

// Member is one member of a package archive, as [Walk] passes it.
type Member struct {
	// Name is the normalised, slash-separated path ("./bin/x" is "bin/x").
	Name string
	Type MemberType
	// Size is the number of bytes of a regular file, 0 otherwise.
	Size int64
	// Mode holds the permission bits as stored.
	Mode fs.FileMode
	// Linkname is a symbolic link's target as stored, or the normalised
	// name of the earlier regular file a hard link points to.
	Linkname string
}

// Walk reads the package archive at pkgPath and calls fn for each member
// in archive order (for a .conda: the info- part, then the pkg- part),
// with every check [Extract] relies on (Extract is Walk writing each
// member to disk): no absolute names or "..", no
// duplicates, no member below a link, no link out of the package, no
// info/ file in a .conda's pkg- part, decompression capped by
// opts.MaxSize. For a regular file r reads its bytes and is valid only
// during the call; fn need not read them all. For other members r is nil.
// An error from fn stops the walk and is returned as is. Nothing is
// written to disk. A walk that returns nil has read and checked the
// whole archive; info/index.json is a regular file holding a JSON object.
func Walk(pkgPath string, opts ExtractOptions, fn func(m Member, r io.Reader) error) error {
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
	w := &walker{pkg: filepath.Base(pkgPath), members: newMemberSet(), limit: limit, fn: fn}
	if format == TarBz2 {
		err = w.tarBz2(pkgPath)
	} else {
		err = w.conda(pkgPath, stem)
	}
	if err != nil {
		return err
	}
	if w.members.kinds[IndexJSONPath] != kindFile {
		return &FormatError{Package: w.pkg, Member: IndexJSONPath, Kind: ErrMissing, Reason: "no info/index.json in the archive"}
	}
	return nil
}

type walker struct {
	pkg     string
	members *memberSet
	limit   int64
	fn      func(Member, io.Reader) error
}

// callerError marks an error returned by the caller's function, so it is
// passed on unchanged.
type callerError struct{ err error }

func (e callerError) Error() string { return e.err.Error() }

func (w *walker) tarBz2(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("condapkg: %w", err)
	}
	defer f.Close()
	raw := &errReader{r: f}
	lim := &limitReader{r: bzip2.NewReader(bufio.NewReaderSize(raw, 64<<10)), n: w.limit}
	err = w.tar(lim, "", "bzip2", false)
	var ce callerError
	if errors.As(err, &ce) {
		return ce.err
	}
	if err != nil && raw.err != nil {
		return fmt.Errorf("condapkg: %s: %w", w.pkg, raw.err)
	}
	return err
}

func (w *walker) conda(p, stem string) error {
	zr, err := zip.OpenReader(p)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		if _, ok := err.(*fs.PathError); ok {
			return fmt.Errorf("condapkg: %w", err)
		}
		return &FormatError{Package: w.pkg, Kind: ErrMalformed, Reason: "not a valid zip archive", Err: err}
	}
	defer zr.Close()
	byName := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		if byName[f.Name] != nil {
			return &FormatError{Package: w.pkg, Member: f.Name, Kind: ErrDuplicate, Reason: "zip member name occurs more than once"}
		}
		byName[f.Name] = f
	}
	info := "info-" + stem + ".tar.zst"
	if byName[info] == nil {
		return &FormatError{Package: w.pkg, Member: info, Kind: ErrMissing, Reason: "no such zip member"}
	}
	for _, name := range []string{info, "pkg-" + stem + ".tar.zst"} {
		f := byName[name]
		if f == nil {
			continue // a package may have no pkg- member
		}
		if err := w.condaMember(f, name != info); err != nil {
			var ce callerError
			if errors.As(err, &ce) {
				return ce.err
			}
			return err
		}
	}
	return nil
}

func (w *walker) condaMember(f *zip.File, payload bool) error {
	if f.Method != zip.Store {
		return &FormatError{Package: w.pkg, Member: f.Name, Kind: ErrMalformed,
			Reason: fmt.Sprintf("zip member uses compression method %d; .conda members must be STORED (0)", f.Method)}
	}
	rc, err := f.Open() // checks the CRC-32 at the end
	if err != nil {
		return &FormatError{Package: w.pkg, Member: f.Name, Kind: ErrMalformed, Reason: "cannot open zip member", Err: err}
	}
	defer rc.Close()
	dec, err := getZstd(rc)
	if err != nil {
		return &FormatError{Package: w.pkg, Member: f.Name, Kind: ErrMalformed, Reason: "zstd", Err: err}
	}
	defer putZstd(dec)
	lim := &limitReader{r: dec, n: w.limit}
	err = w.tar(lim, f.Name+":", "zstd", payload)
	w.limit = lim.n
	return err
}

// tar walks the tar stream r, then reads r to the end so that the
// decompressor verifies its trailing checksums.
func (w *walker) tar(r *limitReader, prefix, codec string, payload bool) error {
	sc := newScanner(w.pkg, prefix, ReadOptions{MaxDecompressed: r.n}, codec, r)
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
		if kind, reason := w.members.add(name, hdr); kind != nil {
			return sc.fail(hdr.Name, kind, reason, nil)
		}
		if hdr.Size > r.n {
			return sc.fail(hdr.Name, ErrTooLarge, fmt.Sprintf("%d bytes, more than the %d-byte extraction limit", hdr.Size, sc.opts.MaxDecompressed), nil)
		}
		if name == IndexJSONPath && hdr.Typeflag != tar.TypeReg {
			return sc.fail(hdr.Name, ErrMalformed, "not a regular file", nil)
		}
		m := Member{Name: name, Mode: fs.FileMode(hdr.Mode) & fs.ModePerm}
		var content io.Reader
		switch hdr.Typeflag {
		case tar.TypeReg:
			m.Type, m.Size, content = MemberFile, hdr.Size, tarData{tr}
			if name == IndexJSONPath {
				// Checked here, whatever fn does with it: a package whose
				// index.json is not a JSON object is not walked through.
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
		case tar.TypeDir:
			m.Type = MemberDir
		case tar.TypeSymlink:
			m.Type, m.Linkname = MemberSymlink, hdr.Linkname
		case tar.TypeLink:
			m.Type = MemberHardlink
			m.Linkname, _ = cleanName(hdr.Linkname) // checked by memberSet.add
		}
		if err := w.fn(m, content); err != nil {
			var te errTarData
			if errors.As(err, &te) {
				return sc.streamError(te.err)
			}
			return callerError{err}
		}
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return sc.streamError(err)
	}
	return nil
}

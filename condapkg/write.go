package condapkg

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	dsbzip2 "github.com/dsnet/compress/bzip2"
	"github.com/klauspost/compress/zstd"

	"github.com/condatrust/condatrust/internal/atomicfile"
)

// DefaultModTime is the modification time written for every member when
// [WriteOptions.ModTime] is zero, so that the same input gives the same bytes.
var DefaultModTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// MetadataJSON is the metadata.json member written into a .conda, as conda
// writes it (31 bytes).
const MetadataJSON = `{"conda_pkg_format_version": 2}`

// WriteOptions tunes [WriteTarBz2], [WriteConda] and [WriteFile].
type WriteOptions struct {
	// IndexJSON, when not nil, is written as info/index.json instead of the
	// file of that name in the source. It must be a JSON object.
	IndexJSON []byte
	// ModTime is the modification time of every member (tar and zip).
	// Zero means [DefaultModTime].
	ModTime time.Time
	// Level is the compression level: bzip2 1-9 (default 9, as conda-build)
	// or zstd 1-22 (default: klauspost/compress's default level, about 3;
	// conda uses 19, which this encoder approximates with its best level).
	Level int
}

// entry is one member to write.
type entry struct {
	name string
	exec bool   // regular file with an execute bit
	link string // symlink target; "" for a regular file
	size int64
	open func() (io.ReadCloser, error)
}

// WriteTarBz2 writes the files of src as a .tar.bz2 package to w. The tar
// holds regular files and symbolic links (no directory entries), info/
// first, then the rest, each part sorted by name, with mode 0644 or 0755,
// uid/gid 0, empty owner names and a fixed time: the same input gives the
// same bytes. src must contain info/index.json unless opts.IndexJSON is set.
// Symbolic links are read with [fs.ReadLink] and must stay inside the
// package; other file types are refused.
func WriteTarBz2(w io.Writer, src fs.FS, opts WriteOptions) error {
	entries, err := collect(src, opts.IndexJSON)
	if err != nil {
		return err
	}
	return writeTarBz2(w, entries, opts)
}

// WriteConda writes the files of src as a .conda package named stem to w:
// a zip of metadata.json, info-<stem>.tar.zst (the info/ files) and
// pkg-<stem>.tar.zst (the rest), in that order, all STORED, with the tars
// built as for [WriteTarBz2]. The compressed members are built in memory.
func WriteConda(w io.Writer, stem string, src fs.FS, opts WriteOptions) error {
	if strings.ContainsAny(stem, "/\x00") || stem == "" {
		return fmt.Errorf("condapkg: invalid package stem %q", stem)
	}
	entries, err := collect(src, opts.IndexJSON)
	if err != nil {
		return err
	}
	return writeConda(w, stem, entries, opts)
}

// WriteFile writes the files of src as a package at path, in the format of
// its extension and, for a .conda, with the stem of its name. The file is
// replaced atomically.
func WriteFile(pkgPath string, src fs.FS, opts WriteOptions) error {
	stem, format, err := ParseFilename(pkgPath)
	if err != nil {
		return err
	}
	entries, err := collect(src, opts.IndexJSON)
	if err != nil {
		return err
	}
	return writeEntriesFile(pkgPath, stem, format, entries, opts)
}

func writeEntriesFile(pkgPath, stem string, format Format, entries []entry, opts WriteOptions) error {
	err := atomicfile.Write(pkgPath, 0o644, func(w io.Writer) error {
		if format == Conda {
			return writeConda(w, stem, entries, opts)
		}
		return writeTarBz2(w, entries, opts)
	})
	if err != nil {
		return fmt.Errorf("condapkg: write %s: %w", pkgPath, err)
	}
	return nil
}

// collect lists the members to write from src.
func collect(src fs.FS, indexJSON []byte) ([]entry, error) {
	var entries []entry
	err := fs.WalkDir(src, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (indexJSON != nil && name == IndexJSONPath) {
			return nil
		}
		switch t := d.Type(); {
		case t&fs.ModeSymlink != 0:
			target, err := fs.ReadLink(src, name)
			if err != nil {
				return err
			}
			entries = append(entries, entry{name: name, link: target})
		case t.IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			entries = append(entries, entry{name: name, exec: fi.Mode()&0o111 != 0, size: fi.Size(),
				open: func() (io.ReadCloser, error) { return src.Open(name) }})
		default:
			return fmt.Errorf("%s: unsupported file type %v", name, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("condapkg: reading package source: %w", err)
	}
	if indexJSON != nil {
		if t := bytes.TrimLeft(indexJSON, " \t\r\n"); len(t) == 0 || t[0] != '{' || !json.Valid(indexJSON) {
			return nil, errors.New("condapkg: WriteOptions.IndexJSON is not a JSON object")
		}
		data := bytes.Clone(indexJSON)
		entries = append(entries, memEntry(IndexJSONPath, data))
	}
	return checkEntries(entries)
}

func memEntry(name string, data []byte) entry {
	return entry{name: name, size: int64(len(data)),
		open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

// checkEntries validates names, links and index.json, and sorts entries in
// archive order: info/ first, then by name.
func checkEntries(entries []entry) ([]entry, error) {
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i].name, entries[j].name
		if ia, ib := isInfo(a), isInfo(b); ia != ib {
			return ia
		}
		return a < b
	})
	haveIndex := false
	for i, e := range entries {
		if !fs.ValidPath(e.name) || e.name == "." {
			return nil, fmt.Errorf("condapkg: invalid member name %q", e.name)
		}
		if i > 0 && entries[i-1].name == e.name {
			return nil, fmt.Errorf("condapkg: duplicate member %q", e.name)
		}
		if e.link != "" {
			if r := symlinkUnsafe(e.name, e.link); r != "" {
				return nil, fmt.Errorf("condapkg: %s: %s", e.name, r)
			}
		}
		if e.name == IndexJSONPath {
			if e.link != "" {
				return nil, fmt.Errorf("condapkg: %s is a symlink", IndexJSONPath)
			}
			haveIndex = true
		}
	}
	if !haveIndex {
		return nil, fmt.Errorf("condapkg: no %s in the package source", IndexJSONPath)
	}
	return entries, nil
}

func modTime(opts WriteOptions) time.Time {
	if opts.ModTime.IsZero() {
		return DefaultModTime
	}
	return opts.ModTime.UTC().Truncate(time.Second)
}

// writeTar writes entries as a tar stream to w.
func writeTar(w io.Writer, entries []entry, opts WriteOptions) error {
	tw := tar.NewWriter(w)
	mt := modTime(opts)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, ModTime: mt, Mode: 0o644, Typeflag: tar.TypeReg, Size: e.size}
		if e.exec {
			hdr.Mode = 0o755
		}
		if e.link != "" {
			hdr.Typeflag, hdr.Linkname, hdr.Mode, hdr.Size = tar.TypeSymlink, e.link, 0o777, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("condapkg: %s: %w", e.name, err)
		}
		if e.link != "" {
			continue
		}
		if err := copyEntry(tw, e); err != nil {
			return err
		}
	}
	return tw.Close()
}

func copyEntry(w io.Writer, e entry) error {
	rc, err := e.open()
	if err != nil {
		return fmt.Errorf("condapkg: %w", err)
	}
	defer rc.Close()
	n, err := io.Copy(w, rc)
	if err == nil && n != e.size {
		err = fmt.Errorf("size changed from %d to %d bytes while writing", e.size, n)
	}
	if err != nil {
		return fmt.Errorf("condapkg: %s: %w", e.name, err)
	}
	return nil
}

func writeTarBz2(w io.Writer, entries []entry, opts WriteOptions) error {
	level := opts.Level
	if level == 0 {
		level = 9
	}
	if level < 1 || level > 9 {
		return fmt.Errorf("condapkg: bzip2 level %d out of range 1-9", level)
	}
	bw, err := dsbzip2.NewWriter(w, &dsbzip2.WriterConfig{Level: level})
	if err != nil {
		return fmt.Errorf("condapkg: %w", err)
	}
	if err := writeTar(bw, entries, opts); err != nil {
		return err
	}
	if err := bw.Close(); err != nil {
		return fmt.Errorf("condapkg: bzip2: %w", err)
	}
	return nil
}

func writeConda(w io.Writer, stem string, entries []entry, opts WriteOptions) error {
	zlevel := zstd.SpeedDefault
	if opts.Level != 0 {
		if opts.Level < 1 || opts.Level > 22 {
			return fmt.Errorf("condapkg: zstd level %d out of range 1-22", opts.Level)
		}
		zlevel = zstd.EncoderLevelFromZstd(opts.Level)
	}
	var info, pkg []entry
	for _, e := range entries {
		if isInfo(e.name) {
			info = append(info, e)
		} else {
			pkg = append(pkg, e)
		}
	}
	compress := func(part []entry) ([]byte, error) {
		var buf bytes.Buffer
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zlevel), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("condapkg: zstd: %w", err)
		}
		if err := writeTar(zw, part, opts); err != nil {
			zw.Close()
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("condapkg: zstd: %w", err)
		}
		return buf.Bytes(), nil
	}
	infoZst, err := compress(info)
	if err != nil {
		return err
	}
	pkgZst, err := compress(pkg)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	mt := modTime(opts)
	for _, m := range []struct {
		name string
		data []byte
	}{
		{"metadata.json", []byte(MetadataJSON)},
		{"info-" + stem + ".tar.zst", infoZst},
		{"pkg-" + stem + ".tar.zst", pkgZst},
	} {
		fh := &zip.FileHeader{
			Name:               m.name,
			Method:             zip.Store,
			CRC32:              crc32.ChecksumIEEE(m.data),
			CompressedSize64:   uint64(len(m.data)),
			UncompressedSize64: uint64(len(m.data)),
		}
		// CreateRaw (needed to write sizes in the local header, without a
		// data descriptor, as conda does) ignores Modified and writes the
		// MS-DOS fields, so set those.
		fh.ModifiedDate, fh.ModifiedTime = msDosTime(mt)
		fh.SetMode(0o644)
		fw, err := zw.CreateRaw(fh)
		if err != nil {
			return fmt.Errorf("condapkg: zip: %w", err)
		}
		if _, err := fw.Write(m.data); err != nil {
			return fmt.Errorf("condapkg: zip: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("condapkg: zip: %w", err)
	}
	return nil
}

// msDosTime converts t (UTC, 1980-2107) to the MS-DOS date and time of zip.
func msDosTime(t time.Time) (date, tm uint16) {
	if t.Year() < 1980 {
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	date = uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day())
	tm = uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2)
	return date, tm
}

// Spec describes a small package to build in memory, for tests and demos.
type Spec struct {
	Name, Version, Build string
	BuildNumber          int
	// Subdir is the platform subdir; "" means "noarch".
	Subdir string
	// Noarch is "generic", "python" or "" (not a noarch package); "" with
	// Subdir "noarch" writes "generic".
	Noarch     string
	Depends    []string // written even when empty, like conda-build
	Constrains []string // written when not empty
	License    string   // written when not empty
	// Timestamp is the build time in milliseconds; 0 leaves it out.
	Timestamp int64
	// Extra adds or replaces index.json keys.
	Extra map[string]any
	// Files maps slash-separated paths to contents: payload files and
	// info/ files other than index.json.
	Files map[string][]byte
	// Symlinks maps paths to symbolic link targets.
	Symlinks map[string]string
}

// Stem returns "<name>-<version>-<build>".
func (s *Spec) Stem() string { return s.Name + "-" + s.Version + "-" + s.Build }

// Filename returns the package file name in format f.
func (s *Spec) Filename(f Format) string { return s.Stem() + f.Ext() }

// IndexJSON returns the info/index.json for s, indented by two spaces with
// sorted keys, as conda-build writes it.
func (s *Spec) IndexJSON() ([]byte, error) {
	for _, part := range []string{s.Name, s.Version, s.Build} {
		if part == "" || strings.ContainsAny(part, "/\x00 ") {
			return nil, fmt.Errorf("condapkg: spec: invalid name, version or build %q", part)
		}
	}
	if strings.Contains(s.Version, "-") || strings.Contains(s.Build, "-") {
		return nil, errors.New("condapkg: spec: version and build must not contain '-'")
	}
	m := map[string]any{
		"name":         s.Name,
		"version":      s.Version,
		"build":        s.Build,
		"build_number": s.BuildNumber,
		"depends":      append([]string{}, s.Depends...),
	}
	subdir := s.Subdir
	if subdir == "" {
		subdir = "noarch"
	}
	m["subdir"] = subdir
	switch {
	case s.Noarch != "":
		m["noarch"] = s.Noarch
	case subdir == "noarch":
		m["noarch"] = "generic"
	}
	if len(s.Constrains) > 0 {
		m["constrains"] = s.Constrains
	}
	if s.License != "" {
		m["license"] = s.License
	}
	if s.Timestamp != 0 {
		m["timestamp"] = s.Timestamp
	}
	for k, v := range s.Extra {
		m[k] = v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("condapkg: spec: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (s *Spec) entries() ([]entry, error) {
	idx, err := s.IndexJSON()
	if err != nil {
		return nil, err
	}
	entries := []entry{memEntry(IndexJSONPath, idx)}
	for name, data := range s.Files {
		if name == IndexJSONPath {
			return nil, errors.New("condapkg: spec: set index.json through the Spec fields and Extra, not Files")
		}
		entries = append(entries, memEntry(name, data))
	}
	for name, target := range s.Symlinks {
		entries = append(entries, entry{name: name, link: target})
	}
	return checkEntries(entries)
}

// Archive builds the package in format f and returns its file name and bytes.
func (s *Spec) Archive(f Format, opts WriteOptions) (filename string, data []byte, err error) {
	entries, err := s.entries()
	if err != nil {
		return "", nil, err
	}
	var buf bytes.Buffer
	switch f {
	case TarBz2:
		err = writeTarBz2(&buf, entries, opts)
	case Conda:
		err = writeConda(&buf, s.Stem(), entries, opts)
	default:
		err = fmt.Errorf("condapkg: unknown format %v", f)
	}
	if err != nil {
		return "", nil, err
	}
	return s.Filename(f), buf.Bytes(), nil
}

// WriteTo writes the package in format f into dir and returns its path.
func (s *Spec) WriteTo(dir string, f Format, opts WriteOptions) (string, error) {
	entries, err := s.entries()
	if err != nil {
		return "", err
	}
	if f != TarBz2 && f != Conda {
		return "", fmt.Errorf("condapkg: unknown format %v", f)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("condapkg: %w", err)
	}
	p := filepath.Join(dir, s.Filename(f))
	return p, writeEntriesFile(p, s.Stem(), f, entries, opts)
}

package condapkg

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"

	dbzip2 "github.com/dsnet/compress/bzip2"
	"github.com/klauspost/compress/zstd"
)

// Default limits of [ReadOptions].
const (
	DefaultMaxFileSize = 32 << 20 // 32 MiB: one kept info/ file
	// DefaultMaxDecompressed is the default cap on the decompressed tar
	// bytes of one package: the same as [DefaultMaxExtract], since a read
	// decompresses the whole archive, as installing it does.
	DefaultMaxDecompressed = DefaultMaxExtract
	DefaultMaxBuffered     = 512 << 20 // 512 MiB: a .conda given to [Read]
)

// IndexJSONPath is the member that holds a package's record.
const IndexJSONPath = "info/index.json"

// ReadOptions tunes [ReadFile], [ReadAt] and [Read]. The zero value gives
// the defaults; a negative limit means no limit.
type ReadOptions struct {
	// MaxFileSize caps each info/ file kept in [Info] (and index.json).
	// Default [DefaultMaxFileSize].
	MaxFileSize int64
	// MaxDecompressed caps the decompressed tar bytes read from one package,
	// against decompression bombs. Default [DefaultMaxDecompressed].
	MaxDecompressed int64
	// MaxBuffered caps the size of a .conda read from a plain io.Reader by
	// [Read], which must hold it in memory. Default [DefaultMaxBuffered].
	MaxBuffered int64
	// InfoOnly decompresses only what the info/ files need: a .conda's
	// pkg- part is hashed but not decompressed, and a .tar.bz2 is
	// decompressed only until its info/ files are known (see the package
	// documentation). It is several times faster on a .tar.bz2, but the
	// rest of the archive is not checked: it may hold a second
	// info/index.json (or another info/ file) that an installer would
	// extract over the one returned. Never sign what such a read returns.
	InfoOnly bool
}

func (o ReadOptions) limits() ReadOptions {
	fix := func(v *int64, def int64) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			*v = math.MaxInt64
		}
	}
	fix(&o.MaxFileSize, DefaultMaxFileSize)
	fix(&o.MaxDecompressed, DefaultMaxDecompressed)
	fix(&o.MaxBuffered, DefaultMaxBuffered)
	return o
}

// Info is what an indexer needs from one package archive.
type Info struct {
	// Filename is the base name of the archive, e.g. "foo-1.0-0.conda".
	Filename string
	// Format is the archive format, from the file name.
	Format Format
	// Size is the number of bytes of the archive file.
	Size int64
	// MD5 and SHA256 are lower-case hex digests of all the archive's bytes.
	MD5, SHA256 string
	// IndexJSON holds the bytes of info/index.json exactly as stored. It is a
	// JSON object; nothing else about it has been checked.
	IndexJSON []byte
	// Files holds the other info/ files conda-index reads, by normalised
	// path, when present: info/about.json, info/paths.json,
	// info/run_exports.json, info/icon.png, and the first of
	// info/recipe/meta.yaml, info/recipe/meta.yaml.rendered and
	// info/meta.yaml met in the archive.
	Files map[string][]byte
}

// recipePaths are the recipe files conda-index takes the first one of.
var recipePaths = map[string]bool{
	"info/recipe/meta.yaml":          true,
	"info/recipe/meta.yaml.rendered": true,
	"info/meta.yaml":                 true,
}

// keptPaths are the other info/ files conda-index reads.
var keptPaths = map[string]bool{
	"info/about.json":       true,
	"info/paths.json":       true,
	"info/run_exports.json": true,
	"info/icon.png":         true,
}

// ReadFile reads the package archive at path: see [ReadAt]. It also fails
// when the file changes size or modification time while being read.
func ReadFile(path string, opts ReadOptions) (*Info, error) {
	if _, _, err := ParseFilename(path); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("condapkg: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("condapkg: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("condapkg: %s: not a regular file", path)
	}
	info, err := ReadAt(f, st.Size(), path, opts)
	if err != nil {
		return nil, err
	}
	st2, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("condapkg: %w", err)
	}
	if st2.Size() != st.Size() || !st2.ModTime().Equal(st.ModTime()) {
		return nil, fmt.Errorf("condapkg: %s: file changed while being read", path)
	}
	return info, nil
}

// ReadAt reads the package archive of the given size from r; filename (a
// base name or a path) decides the format and, for a .conda, the stem of the
// info- and pkg- members. Every byte is read once, in order, to compute the
// digests; a .conda's zip directory and members are located with random
// access and the bytes so read are checked against the sequential pass, so
// the result describes one consistent version of the file.
func ReadAt(r io.ReaderAt, size int64, filename string, opts ReadOptions) (*Info, error) {
	stem, format, err := ParseFilename(filename)
	if err != nil {
		return nil, err
	}
	opts = opts.limits()
	base := filepath.Base(filename)
	if format == Conda {
		return readConda(r, size, base, stem, opts)
	}
	info, err := readTarBz2(io.NewSectionReader(r, 0, size), base, opts)
	if err != nil {
		return nil, err
	}
	if info.Size != size {
		return nil, fmt.Errorf("condapkg: %s: read %d bytes, expected %d", base, info.Size, size)
	}
	return info, nil
}

// Read reads a package archive from the stream r; filename decides the
// format as in [ReadAt]. A .tar.bz2 is read in one pass; a .conda (a zip,
// whose directory is at the end) is first read into memory, up to
// [ReadOptions.MaxBuffered] bytes. Use [ReadAt] or [ReadFile] to avoid that.
func Read(r io.Reader, filename string, opts ReadOptions) (*Info, error) {
	stem, format, err := ParseFilename(filename)
	if err != nil {
		return nil, err
	}
	opts = opts.limits()
	base := filepath.Base(filename)
	if format == TarBz2 {
		return readTarBz2(r, base, opts)
	}
	limit := opts.MaxBuffered
	if limit < math.MaxInt64 {
		limit++
	}
	data, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return nil, fmt.Errorf("condapkg: %s: %w", base, err)
	}
	if int64(len(data)) > opts.MaxBuffered {
		return nil, &FormatError{Package: base, Kind: ErrTooLarge,
			Reason: fmt.Sprintf(".conda larger than the %d-byte buffering limit (use ReadAt)", opts.MaxBuffered)}
	}
	return readConda(bytes.NewReader(data), int64(len(data)), base, stem, opts)
}

// readTarBz2 hashes every byte of src and decompresses only as far as needed.
func readTarBz2(src io.Reader, pkg string, opts ReadOptions) (*Info, error) {
	h := newHasher(nil)
	raw := &errReader{r: src}
	bufp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bufp)
	// The hash sees bytes as they leave the file, below the read-ahead
	// buffer: once decompression stops, the rest of the file is hashed
	// directly and no byte is hashed twice or skipped.
	br := bufio.NewReaderSize(io.TeeReader(raw, h), 64<<10)
	dec, done := newBzip2Reader(br)
	defer done()
	lim := &limitReader{r: dec, n: opts.MaxDecompressed}
	sc := newScanner(pkg, "", opts, "bzip2", lim)
	stopped, err := sc.scan(tar.NewReader(lim), opts.InfoOnly)
	if err == nil && !stopped {
		// Check the bzip2 trailer (stream CRC) after the end of the tar.
		_, err = io.CopyBuffer(io.Discard, lim, *bufp)
		if err != nil {
			err = sc.streamError(err)
		}
	}
	if err != nil {
		if raw.err != nil {
			return nil, fmt.Errorf("condapkg: %s: %w", pkg, raw.err)
		}
		return nil, err
	}
	if _, err := io.CopyBuffer(h, raw, *bufp); err != nil {
		return nil, fmt.Errorf("condapkg: %s: %w", pkg, err)
	}
	return sc.finish(h, TarBz2)
}

// condaPart is a tar.zst member of a .conda to decode: info- (the
// metadata) or pkg- (the payload).
type condaPart struct {
	f         *zip.File
	off, size int64
	payload   bool
}

// readConda reads the zip directory with random access (recording what it
// reads), then makes one sequential pass that hashes the file, checks the
// recorded bytes and decodes the info- and pkg- members as they stream by.
func readConda(ra io.ReaderAt, size int64, pkg, stem string, opts ReadOptions) (*Info, error) {
	rec := &recordingReaderAt{r: ra, max: 1 << 20}
	fail := func(kind error, member, reason string, err error) (*Info, error) {
		return nil, &FormatError{Package: pkg, Member: member, Kind: kind, Reason: reason, Err: err}
	}
	zr, err := zip.NewReader(rec, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		switch {
		case rec.ioErr != nil:
			return nil, fmt.Errorf("condapkg: %s: %w", pkg, rec.ioErr)
		case rec.overflow:
			return fail(ErrTooLarge, "", "zip directory larger than 1 MiB", nil)
		}
		return fail(ErrMalformed, "", "not a valid zip archive", err)
	}
	infoName, pkgName := "info-"+stem+".tar.zst", "pkg-"+stem+".tar.zst"
	var infoFile, pkgFile *zip.File
	names := make(map[string]bool, len(zr.File))
	for _, f := range zr.File {
		if names[f.Name] {
			return fail(ErrDuplicate, f.Name, "zip member name occurs more than once", nil)
		}
		names[f.Name] = true
		switch f.Name {
		case infoName:
			infoFile = f
		case pkgName:
			pkgFile = f
		}
	}
	if infoFile == nil {
		return fail(ErrMissing, infoName, "no such zip member", nil)
	}
	// The parts in file order; a package may have no pkg- member.
	var parts []condaPart
	for _, f := range []*zip.File{infoFile, pkgFile} {
		if f == nil {
			continue
		}
		if f.Method != zip.Store {
			return fail(ErrMalformed, f.Name, fmt.Sprintf("zip member uses compression method %d; .conda members must be STORED (0)", f.Method), nil)
		}
		if f.Flags&1 != 0 {
			return fail(ErrMalformed, f.Name, "zip member is encrypted", nil)
		}
		csize := int64(f.CompressedSize64)
		if f.CompressedSize64 != f.UncompressedSize64 || csize < 0 {
			return fail(ErrMalformed, f.Name, "STORED zip member with different compressed and uncompressed sizes", nil)
		}
		off, err := f.DataOffset()
		if err != nil {
			if rec.ioErr != nil {
				return nil, fmt.Errorf("condapkg: %s: %w", pkg, rec.ioErr)
			}
			return fail(ErrMalformed, f.Name, "bad zip local header", err)
		}
		if off < 0 || off > size || csize > size-off {
			return fail(ErrMalformed, f.Name, "zip member extends beyond the end of the file", nil)
		}
		parts = append(parts, condaPart{f: f, off: off, size: csize, payload: f == pkgFile})
	}
	if len(parts) == 2 {
		if parts[0].off > parts[1].off {
			parts[0], parts[1] = parts[1], parts[0]
		}
		if parts[0].off+parts[0].size > parts[1].off {
			return fail(ErrMalformed, parts[1].f.Name, "zip member overlaps "+parts[0].f.Name, nil)
		}
	}

	h := newHasher(rec.ranges)
	raw := &errReader{r: io.NewSectionReader(ra, 0, size)}
	bufp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bufp)
	ioFail := func(err error) (*Info, error) {
		if h.err != nil {
			return fail(ErrMalformed, "", "file changed while being read", nil)
		}
		if raw.err != nil {
			err = raw.err
		}
		return nil, fmt.Errorf("condapkg: %s: %w", pkg, err)
	}
	members := newMemberSet()
	budget := opts.MaxDecompressed
	var info *scanner
	pos := int64(0)
	for _, p := range parts {
		if _, err := io.CopyBuffer(h, io.LimitReader(raw, p.off-pos), *bufp); err != nil {
			return ioFail(err)
		}
		pos = p.off + p.size
		if p.payload && opts.InfoOnly {
			if _, err := io.CopyBuffer(h, io.LimitReader(raw, p.size), *bufp); err != nil {
				return ioFail(err)
			}
			continue
		}
		crc := crc32.NewIEEE()
		section := io.TeeReader(io.LimitReader(raw, p.size), &teeWriter{h, crc})
		dec, err := getZstd(section)
		if err != nil {
			return fail(ErrMalformed, p.f.Name, "zstd", err)
		}
		lim := &limitReader{r: dec, n: budget}
		sc := newScanner(pkg, p.f.Name+":", opts, "zstd", lim)
		sc.members, sc.payload = members, p.payload
		_, err = sc.scan(tar.NewReader(lim), false)
		if err == nil {
			// Read to the end of the zstd frame: checks its checksum.
			if _, err = io.CopyBuffer(io.Discard, lim, *bufp); err != nil {
				err = sc.streamError(err)
			}
		}
		putZstd(dec)
		if err != nil {
			if h.err != nil || raw.err != nil {
				return ioFail(err)
			}
			return nil, err
		}
		budget = lim.n
		if _, err := io.CopyBuffer(io.Discard, section, *bufp); err != nil {
			return ioFail(err)
		}
		if crc.Sum32() != p.f.CRC32 {
			return fail(ErrMalformed, p.f.Name, "zip member CRC-32 mismatch", nil)
		}
		if !p.payload {
			info = sc
		}
	}
	if _, err := io.CopyBuffer(h, raw, *bufp); err != nil {
		return ioFail(err)
	}
	if h.err != nil {
		return ioFail(h.err)
	}
	if h.n != size {
		return nil, fmt.Errorf("condapkg: %s: read %d bytes, expected %d", pkg, h.n, size)
	}
	return info.finish(h, Conda)
}

// scanner collects the info/ files of one tar stream and checks every member
// it passes.
type scanner struct {
	pkg, prefix, codec string
	opts               ReadOptions
	lim                *limitReader // the decompressed stream, for its remaining budget
	members            *memberSet
	last               string // raw name of the last member seen
	indexJSON          []byte
	files              map[string][]byte
	wantIcon, recipe   bool
	// payload marks a .conda's pkg- part, which may hold no info/ file.
	payload bool
}

func newScanner(pkg, prefix string, opts ReadOptions, codec string, lim *limitReader) *scanner {
	return &scanner{pkg: pkg, prefix: prefix, codec: codec, opts: opts, lim: lim,
		members: newMemberSet(), files: make(map[string][]byte)}
}

func (s *scanner) fail(raw string, kind error, reason string, err error) error {
	m := ""
	if raw != "" {
		m = s.prefix + raw
	} else if s.prefix != "" {
		m = s.prefix[:len(s.prefix)-1]
	}
	return &FormatError{Package: s.pkg, Member: m, Kind: kind, Reason: reason, Err: err}
}

// streamError classifies an error from the decompressed stream.
func (s *scanner) streamError(err error) error {
	if errors.Is(err, errLimit) {
		return s.fail(s.last, ErrTooLarge, fmt.Sprintf("more than %d bytes after decompression", s.opts.MaxDecompressed), nil)
	}
	return s.fail(s.last, ErrMalformed, fmt.Sprintf("corrupt or truncated %s tar stream", s.codec), err)
}

// complete reports whether every file conda-index looks for has been seen.
func (s *scanner) complete() bool {
	if s.indexJSON == nil || !s.recipe {
		return false
	}
	for p := range keptPaths {
		if _, ok := s.files[p]; !ok && (p != "info/icon.png" || s.wantIcon) {
			return false
		}
	}
	return true
}

// scan reads members until the end of the tar or, when stopEarly is set,
// until the info/ files are known complete: every wanted file was seen, or
// a member outside info/ follows info/index.json. It reports whether it
// stopped early.
func (s *scanner) scan(tr *tar.Reader, stopEarly bool) (stopped bool, err error) {
	for {
		if stopEarly && s.complete() {
			return true, nil
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, s.streamError(err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		s.last = hdr.Name
		name, bad := cleanName(hdr.Name)
		if bad != "" {
			return false, s.fail(hdr.Name, ErrUnsafePath, bad, nil)
		}
		if name == "" {
			if hdr.Typeflag != tar.TypeDir {
				return false, s.fail(hdr.Name, ErrMalformed, "archive root is not a directory", nil)
			}
			continue
		}
		if s.payload {
			if reason := infoInPayload(name, hdr); reason != "" {
				return false, s.fail(hdr.Name, ErrDuplicate, reason, nil)
			}
		}
		if kind, reason := s.members.add(name, hdr); kind != nil {
			return false, s.fail(hdr.Name, kind, reason, nil)
		}
		if s.payload {
			if s.lim != nil && hdr.Size > s.lim.n {
				return false, s.fail(hdr.Name, ErrTooLarge, fmt.Sprintf("%d bytes, more than the %d-byte decompression limit", hdr.Size, s.opts.MaxDecompressed), nil)
			}
			continue
		}
		if stopEarly && s.indexJSON != nil && !isInfo(name) {
			return true, nil
		}
		keep := name == IndexJSONPath || keptPaths[name] || (recipePaths[name] && !s.recipe)
		if !keep {
			if s.lim != nil && hdr.Size > s.lim.n {
				return false, s.fail(hdr.Name, ErrTooLarge, fmt.Sprintf("%d bytes, more than the %d-byte decompression limit", hdr.Size, s.opts.MaxDecompressed), nil)
			}
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			return false, s.fail(hdr.Name, ErrMalformed, "not a regular file", nil)
		}
		if hdr.Size > s.opts.MaxFileSize {
			return false, s.fail(hdr.Name, ErrTooLarge, fmt.Sprintf("%d bytes, more than the %d-byte limit", hdr.Size, s.opts.MaxFileSize), nil)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return false, s.streamError(err)
		}
		if name == IndexJSONPath {
			icon, err := parseIndexJSON(data)
			if err != nil {
				return false, s.fail(hdr.Name, ErrMalformed, "not a JSON object", err)
			}
			s.indexJSON = data
			s.wantIcon = icon
			continue
		}
		if recipePaths[name] {
			s.recipe = true
		}
		s.files[name] = data
	}
	if s.indexJSON == nil && !s.payload {
		return false, s.fail(IndexJSONPath, ErrMissing, "no info/index.json in the archive", nil)
	}
	return false, nil
}

// infoInPayload returns why a member of a .conda's pkg- part may not be
// there: conda extracts the info- and pkg- parts into one folder, so an
// info/ file in pkg- would replace, or be replaced by, the metadata read
// from info-. Directory entries replace nothing and pass.
func infoInPayload(name string, hdr *tar.Header) string {
	if !isInfo(name) || hdr.Typeflag == tar.TypeDir {
		return ""
	}
	return "an info/ file in the pkg- part: conda extracts both parts into one folder, where it would replace or be replaced by the info- part's metadata"
}

func (s *scanner) finish(h *hasher, f Format) (*Info, error) {
	if s.indexJSON == nil {
		return nil, s.fail(IndexJSONPath, ErrMissing, "no info/index.json in the archive", nil)
	}
	return &Info{
		Filename:  s.pkg,
		Format:    f,
		Size:      h.n,
		MD5:       hex.EncodeToString(h.md5.Sum(nil)),
		SHA256:    hex.EncodeToString(h.sha.Sum(nil)),
		IndexJSON: s.indexJSON,
		Files:     s.files,
	}, nil
}

// parseIndexJSON checks that data is a JSON object and reports whether it
// names an icon (an "icon" key that is not null).
func parseIndexJSON(data []byte) (icon bool, err error) {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return false, errors.New("does not start with '{'")
	}
	var probe struct {
		Icon json.RawMessage `json:"icon"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return false, err
	}
	return len(probe.Icon) > 0 && string(probe.Icon) != "null", nil
}

// hasher computes MD5 and SHA-256 of the bytes written to it, counts them,
// and checks that bytes read earlier at the same offsets (by archive/zip)
// are unchanged.
type hasher struct {
	md5, sha hash.Hash
	n        int64
	checks   []readRange
	err      error
}

var errChanged = errors.New("bytes differ from an earlier read of the same offsets")

func newHasher(checks []readRange) *hasher {
	return &hasher{md5: md5.New(), sha: sha256.New(), checks: checks}
}

func (h *hasher) Write(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	start, end := h.n, h.n+int64(len(p))
	for _, c := range h.checks {
		cEnd := c.off + int64(len(c.data))
		if cEnd <= start || c.off >= end {
			continue
		}
		lo, hi := max(start, c.off), min(end, cEnd)
		if !bytes.Equal(p[lo-start:hi-start], c.data[lo-c.off:hi-c.off]) {
			h.err = errChanged
			return 0, h.err
		}
	}
	h.md5.Write(p)
	h.sha.Write(p)
	h.n = end
	return len(p), nil
}

// teeWriter writes to the hasher and to a CRC, without io.MultiWriter's
// allocation per call.
type teeWriter struct {
	h   *hasher
	crc hash.Hash32
}

func (t *teeWriter) Write(p []byte) (int, error) {
	n, err := t.h.Write(p)
	t.crc.Write(p[:n])
	return n, err
}

type readRange struct {
	off  int64
	data []byte
}

// recordingReaderAt keeps a copy of everything read through it, up to max
// bytes in all.
type recordingReaderAt struct {
	r        io.ReaderAt
	max      int
	used     int
	ranges   []readRange
	overflow bool
	ioErr    error
}

var (
	errRecordOverflow = errors.New("too much random-access reading")
	errNegativeOffset = errors.New("negative offset")
)

func (r *recordingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegativeOffset // a corrupt zip offset, not an I/O error
	}
	if r.used+len(p) > r.max {
		r.overflow = true
		return 0, errRecordOverflow
	}
	n, err := r.r.ReadAt(p, off)
	if n > 0 {
		r.ranges = append(r.ranges, readRange{off, bytes.Clone(p[:n])})
		r.used += n
	}
	if err != nil && err != io.EOF && r.ioErr == nil {
		r.ioErr = err
	}
	return n, err
}

// errReader remembers the first error of r other than io.EOF, to tell I/O
// failures from corrupt data.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

var errLimit = errors.New("decompression limit exceeded")

// limitReader returns errLimit, rather than io.EOF, when more than n bytes
// are available.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		for {
			k, err := l.r.Read(one[:])
			if k > 0 {
				return 0, errLimit
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// maxZstdWindow bounds the memory a zstd frame may ask for.
const maxZstdWindow = 128 << 20

var zstdPool sync.Pool

func getZstd(r io.Reader) (*zstd.Decoder, error) {
	if d, ok := zstdPool.Get().(*zstd.Decoder); ok {
		if err := d.Reset(r); err == nil {
			return d, nil
		}
		d.Close()
	}
	return zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow))
}

func putZstd(d *zstd.Decoder) {
	if d.Reset(nil) == nil {
		zstdPool.Put(d)
	}
}

// newBzip2Reader returns a bzip2 decoder reading r, and a function to call
// when done with it. It is a variable so that tests can compare the
// decoders (see TestBzip2DecodersAgree).
var newBzip2Reader = pooledBzip2

// bzip2Pool holds github.com/dsnet/compress/bzip2 decoders. That decoder
// is about twice as fast as compress/bzip2 (table-driven Huffman
// decoding), and Reset keeps its block buffers, where compress/bzip2
// allocates and clears 3.6 MB for every stream. Both check every block's
// CRC and the stream CRC and accept concatenated streams
// (TestBzip2DecodersAgree compares them).
var bzip2Pool sync.Pool

// pooledBzip2Reader notes whether its decoder reached the clean end of
// the data. Only then is the decoder put back in the pool: Reset in
// dsnet/compress v0.0.1 keeps the undelivered bytes of the block being
// read, which the next stream would return first.
type pooledBzip2Reader struct {
	d   *dbzip2.Reader
	eof bool
}

func (p *pooledBzip2Reader) Read(b []byte) (int, error) {
	n, err := p.d.Read(b)
	if err == io.EOF {
		p.eof = true
	}
	return n, err
}

func pooledBzip2(r io.Reader) (io.Reader, func()) {
	d, ok := bzip2Pool.Get().(*dbzip2.Reader)
	if ok {
		d.Reset(r)
	} else {
		d, _ = dbzip2.NewReader(r, nil) // never fails
	}
	p := &pooledBzip2Reader{d: d}
	return p, func() {
		if p.eof {
			d.Reset(nil)
			bzip2Pool.Put(d)
		}
	}
}

package repodata

// The signing index: a sidecar file next to a signed repodata.json that
// says where each record and each signatures entry lies in it, so that an
// incremental run (SignOptions.Previous) need not split the previous
// signed file again. See the package documentation, "Incremental
// signing", for what the index is trusted with (only offsets) and why.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/condatrust/condatrust/internal/atomicfile"
)

// IndexSuffix is appended to a signed file's path to name its signing
// index.
const IndexSuffix = ".sign-index"

// indexMagic starts a signing index. The file is
//
//	magic | digest of the signed file (32) | its size (8) | flags (1:
//	bit 0 compact, bit 1 "packages" present, bit 2 "packages.conda"
//	present) | records (8) | of them in "packages" (8) | per record:
//	name length (4), name, record offset (8), length (8), signatures
//	entry offset (8), length (8) | SHA-256 of everything before (32)
//
// all integers big-endian, records in File order (each section sorted by
// name). The digest is fileDigest's.
const indexMagic = "condatrust repodata sign-index v1\n"

// digestChunk is the chunk size of fileDigest.
const digestChunk = 4 << 20

// fileDigest is SHA-256 over a domain prefix, the size, and the SHA-256 of
// each 4 MiB chunk of the file's contents in order: a digest of the whole
// file whose chunks are hashed on all cores. The chunks are read from fh
// (with pread, so that a mapping of the file is not paged in), or, when fh
// is nil, taken from data.
func fileDigest(data []byte, fh *os.File, size int64) ([32]byte, error) {
	n := int((size + digestChunk - 1) / digestChunk)
	sums := make([][32]byte, n)
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	errs := make([]error, min(runtime.GOMAXPROCS(0), max(n, 1)))
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			if fh != nil {
				buf = make([]byte, digestChunk)
			}
			for i := range next {
				lo, hi := int64(i)*digestChunk, min(int64(i+1)*digestChunk, size)
				if fh == nil {
					sums[i] = sha256.Sum256(data[lo:hi])
					continue
				}
				if _, err := fh.ReadAt(buf[:hi-lo], lo); err != nil {
					errs[w] = err
					return
				}
				sums[i] = sha256.Sum256(buf[:hi-lo])
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return [32]byte{}, err
	}
	return combineDigest(size, sums), nil
}

func combineDigest(size int64, sums [][32]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("condatrust repodata file digest v1\x00"))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(size))
	h.Write(b[:])
	for i := range sums {
		h.Write(sums[i][:])
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// digestWriter passes writes on to w and computes fileDigest of what
// went through, hashing full chunks in the background.
type digestWriter struct {
	w     io.Writer
	n     int64
	buf   []byte
	sums  []*[32]byte
	wg    sync.WaitGroup
	slots chan struct{}
	free  chan []byte // chunk buffers hashed and free again
}

func newDigestWriter(w io.Writer) *digestWriter {
	n := runtime.GOMAXPROCS(0)
	return &digestWriter{w: w, buf: make([]byte, 0, digestChunk), slots: make(chan struct{}, n), free: make(chan []byte, n+1)}
}

func (d *digestWriter) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	d.n += int64(n)
	q := p[:n]
	for len(q) > 0 {
		k := min(len(q), digestChunk-len(d.buf))
		d.buf = append(d.buf, q[:k]...)
		q = q[k:]
		if len(d.buf) == digestChunk {
			d.flushChunk()
		}
	}
	return n, err
}

func (d *digestWriter) flushChunk() {
	sum := new([32]byte)
	d.sums = append(d.sums, sum)
	chunk := d.buf
	d.slots <- struct{}{}
	select {
	case b := <-d.free:
		d.buf = b[:0]
	default:
		d.buf = make([]byte, 0, digestChunk)
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		*sum = sha256.Sum256(chunk)
		select {
		case d.free <- chunk:
		default:
		}
		<-d.slots
	}()
}

// sum returns the digest of everything written.
func (d *digestWriter) sum() [32]byte {
	if len(d.buf) > 0 {
		d.flushChunk()
	}
	d.wg.Wait()
	sums := make([][32]byte, len(d.sums))
	for i, s := range d.sums {
		sums[i] = *s
	}
	return combineDigest(d.n, sums)
}

// signIndex is what Sign records for the index while it writes.
type signIndex struct {
	rec, sig [][2]int64 // per record: offset and length in the output
	digest   [32]byte   // fileDigest of the output
	size     int64
}

func (x *signIndex) encode(f *File, compact bool) []byte {
	digest, size := x.digest, x.size
	var b bytes.Buffer
	b.Grow(len(indexMagic) + 32 + 8 + 1 + 16 + 36*len(f.records) + 64*len(f.records) + 32)
	b.WriteString(indexMagic)
	b.Write(digest[:])
	var u [8]byte
	put := func(v int64) {
		binary.BigEndian.PutUint64(u[:], uint64(v))
		b.Write(u[:])
	}
	put(size)
	var flags byte
	if compact {
		flags |= 1
	}
	if f.hasPkgs {
		flags |= 2
	}
	if f.hasConda {
		flags |= 4
	}
	b.WriteByte(flags)
	put(int64(len(f.records)))
	put(int64(f.nPkgs))
	for i, r := range f.records {
		binary.BigEndian.PutUint32(u[:4], uint32(len(r.Filename)))
		b.Write(u[:4])
		b.WriteString(r.Filename)
		put(x.rec[i][0])
		put(x.rec[i][1])
		put(x.sig[i][0])
		put(x.sig[i][1])
	}
	sum := sha256.Sum256(b.Bytes())
	b.Write(sum[:])
	return b.Bytes()
}

// OpenPrevious opens the signed repodata.json at path for use as
// [SignOptions.Previous]. When the signing index [WriteSigned] wrote next
// to it (path + [IndexSuffix]) is intact and was written for exactly this
// file (its digest matches), the records and signatures are located from
// the index instead of splitting the file; otherwise the file is opened
// with [Open], and indexIgnored says why the index was not used ("" when
// it was). Whatever the index says, what is reused is decided as without
// it: a record's bytes must equal the new input's and a random sample of
// reused records is verified in full.
func OpenPrevious(path string) (f *File, indexIgnored string, err error) {
	f, why := openIndexed(path)
	if f != nil {
		return f, "", nil
	}
	f, err = Open(path)
	return f, why, err
}

func openIndexed(path string) (*File, string) {
	idx, err := os.ReadFile(path + IndexSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "there is no signing index " + path + IndexSuffix
	}
	if err != nil {
		return nil, err.Error()
	}
	data, release, mapped, err := mapFile(path)
	if err != nil {
		return nil, err.Error()
	}
	fh, err := os.Open(path)
	if err != nil {
		release()
		return nil, err.Error()
	}
	defer fh.Close()
	f, why := fileFromIndex(data, fh, idx)
	if f == nil {
		release()
		return nil, path + IndexSuffix + ": " + why
	}
	f.release, f.mapped = release, mapped
	return f, ""
}

// fileFromIndex builds the File of data from its signing index, or says
// why it cannot.
func fileFromIndex(data []byte, fh *os.File, idx []byte) (*File, string) {
	const head = len(indexMagic) + 32 + 8 + 1 + 8 + 8
	if len(idx) < head+32 || string(idx[:len(indexMagic)]) != indexMagic {
		return nil, "not a signing index"
	}
	body, sum := idx[:len(idx)-32], idx[len(idx)-32:]
	if s := sha256.Sum256(body); !bytes.Equal(s[:], sum) {
		return nil, "damaged (its checksum does not match)"
	}
	p := len(indexMagic)
	var digest [32]byte
	copy(digest[:], body[p:])
	p += 32
	get := func() int64 { v := int64(binary.BigEndian.Uint64(body[p:])); p += 8; return v }
	size := get()
	flags := body[p]
	p++
	n, nPkgs := get(), get()
	if size != int64(len(data)) {
		return nil, fmt.Sprintf("written for a file of %d bytes, this one has %d: the signed file changed since", size, len(data))
	}
	if n < 0 || nPkgs < 0 || nPkgs > n || n > int64(len(body)-p)/36 { // each record takes at least 36 bytes
		return nil, "damaged (record counts)"
	}
	if d, err := fileDigest(data, fh, int64(len(data))); err != nil {
		return nil, err.Error()
	} else if d != digest {
		return nil, "written for other contents of the signed file: it was edited or replaced since"
	}
	f := &File{data: data, ordered: true, hasPkgs: flags&2 != 0, hasConda: flags&4 != 0, hasSigs: true, nPkgs: int(nPkgs)}
	f.records = make([]Record, n)
	var names strings.Builder
	names.Grow(len(body) - p - int(n)*36) // the names' bytes, less a little
	type span struct{ a, b int }
	nameAt := make([]span, n)
	rng := func(off, l int64) ([]byte, bool) {
		if off < 0 || l < 0 || off > int64(len(data)) || l > int64(len(data))-off {
			return nil, false
		}
		return data[off : off+l], true
	}
	sigs := make([][]byte, n)
	offs := make([]int, n)
	for i := range f.records {
		if len(body)-p < 4 {
			return nil, "damaged (truncated)"
		}
		l := int(binary.BigEndian.Uint32(body[p:]))
		p += 4
		if len(body)-p < l+32 {
			return nil, "damaged (truncated)"
		}
		nameAt[i] = span{names.Len(), names.Len() + l}
		names.Write(body[p : p+l])
		p += l
		ro, rl, so, sl := get(), get(), get(), get()
		raw, ok1 := rng(ro, rl)
		sig, ok2 := rng(so, sl)
		if !ok1 || !ok2 {
			return nil, "damaged (offsets outside the file)"
		}
		sec := Packages
		if int64(i) >= nPkgs {
			sec = PackagesConda
		}
		f.records[i] = Record{Section: sec, Raw: raw, off: int(ro)}
		sigs[i], offs[i] = sig, int(so)
	}
	if p != len(body) {
		return nil, "damaged (trailing bytes)"
	}
	all := names.String()
	for i := range f.records {
		f.records[i].Filename = all[nameAt[i].a:nameAt[i].b]
	}
	// Each section strictly increasing; signatures entries merged by name
	// (a name in both sections has one entry).
	for _, sec := range []Section{Packages, PackagesConda} {
		rs := f.section(sec)
		for i := 1; i < len(rs); i++ {
			if rs[i-1].Filename >= rs[i].Filename {
				return nil, "damaged (records out of order)"
			}
		}
	}
	a, b := f.records[:f.nPkgs], f.records[f.nPkgs:]
	for i, k := 0, 0; i < len(a) || k < len(b); {
		switch {
		case i < len(a) && k < len(b) && a[i].Filename == b[k].Filename:
			f.sigs = append(f.sigs, sigEntry{fn: b[k].Filename, off: offs[f.nPkgs+k], raw: sigs[f.nPkgs+k]})
			i++
			k++
		case k == len(b) || (i < len(a) && a[i].Filename < b[k].Filename):
			f.sigs = append(f.sigs, sigEntry{fn: a[i].Filename, off: offs[i], raw: sigs[i]})
			i++
		default:
			f.sigs = append(f.sigs, sigEntry{fn: b[k].Filename, off: offs[f.nPkgs+k], raw: sigs[f.nPkgs+k]})
			k++
		}
	}
	return f, ""
}

// writeIndex writes the signing index of the signed file at path
// atomically. A failure leaves no index (an old one is removed first, so
// that it cannot be taken for the new file's: its digest would not match
// anyway).
func writeIndex(path string, idx []byte) error {
	if err := os.Remove(path + IndexSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return atomicfile.WriteFile(path+IndexSuffix, idx, 0o644)
}

// SignIndex is the signing index of one signed output, from
// [SignWithIndex]: what [WriteSigned] writes next to its output with
// SignOptions.WriteIndex, for a caller that writes the signed bytes
// itself.
type SignIndex struct{ data []byte }

// SignWithIndex is [Sign], also returning the signing index of what it
// wrote to w. Write it with [SignIndex.WriteFile] next to the file the
// bytes go to.
func SignWithIndex(w io.Writer, f *File, opts SignOptions) (*SignStats, *SignIndex, error) {
	idx := &signIndex{}
	st, err := sign(w, f, opts, idx)
	if err != nil {
		return nil, nil, err
	}
	return st, &SignIndex{idx.encode(f, opts.Compact)}, nil
}

// WriteFile writes the index next to the signed file at signedPath
// (signedPath + [IndexSuffix]), atomically. It may be written before or
// after the signed file: it is bound to the signed bytes by their digest,
// and [OpenPrevious] ignores it for any other contents.
func (x *SignIndex) WriteFile(signedPath string) error {
	return writeIndex(signedPath, x.data)
}

package condapkg_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dsbzip2 "github.com/dsnet/compress/bzip2"
	"github.com/klauspost/compress/zstd"

	"github.com/condatrust/condatrust/condapkg"
)

// member is one raw tar entry for hand-made archives.
type member struct {
	name     string
	typ      byte
	data     []byte
	link     string
	declared int64 // header size when not len(data); data is then truncated
}

func reg(name, data string) member { return member{name: name, typ: tar.TypeReg, data: []byte(data)} }
func symlink(name, target string) member {
	return member{name: name, typ: tar.TypeSymlink, link: target}
}

const goodIndex = `{"build": "0", "build_number": 0, "depends": [], "name": "evil", "version": "1"}`

func index() member { return reg("info/index.json", goodIndex) }

// rawTar writes members as given: no name checks, possibly truncated.
func rawTar(t testing.TB, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		hdr := &tar.Header{Name: m.name, Typeflag: m.typ, Linkname: m.link, Mode: 0o644, Size: int64(len(m.data))}
		if m.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if m.declared != 0 {
			hdr.Size = m.declared
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.data); err != nil {
			t.Fatal(err)
		}
		if m.declared != 0 {
			return buf.Bytes() // truncated on purpose
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func bz2(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := dsbzip2.NewWriter(&buf, &dsbzip2.WriterConfig{Level: 9})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zst(t testing.TB, data []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(data, nil)
}

type zipMember struct {
	name   string
	data   []byte
	method uint16
}

// rawZip writes members as given (duplicates allowed).
func rawZip(t testing.TB, members ...zipMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		if m.method == zip.Deflate {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: zip.Deflate})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(m.data)
			continue
		}
		w, err := zw.CreateRaw(&zip.FileHeader{Name: m.name, Method: zip.Store, CRC32: crc32.ChecksumIEEE(m.data),
			CompressedSize64: uint64(len(m.data)), UncompressedSize64: uint64(len(m.data))})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(m.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const stem = "evil-1-0"

// conda wraps an info tar (and optional pkg tar) into a .conda.
func conda(t testing.TB, info []byte, pkg []byte) []byte {
	t.Helper()
	ms := []zipMember{{name: "metadata.json", data: []byte(condapkg.MetadataJSON)},
		{name: "info-" + stem + ".tar.zst", data: zst(t, info)}}
	if pkg != nil {
		ms = append(ms, zipMember{name: "pkg-" + stem + ".tar.zst", data: zst(t, pkg)})
	}
	return rawZip(t, ms...)
}

type badCase struct {
	name   string
	file   string // file name; stem+".tar.bz2" or stem+".conda"
	data   []byte
	opts   condapkg.ReadOptions
	kind   error
	member string // substring expected in FormatError.Member
	// fullOnly: only a read of the whole archive sees the problem, so a
	// read with ReadOptions.InfoOnly succeeds.
	fullOnly bool
}

// badArchives returns hand-made hostile or broken archives in both formats.
func badArchives(t testing.TB) []badCase {
	both := func(name string, kind error, memberSub string, opts condapkg.ReadOptions, members ...member) []badCase {
		tr := rawTar(t, members...)
		return []badCase{
			{name + "/tar.bz2", stem + ".tar.bz2", bz2(t, tr), opts, kind, memberSub, false},
			{name + "/conda", stem + ".conda", conda(t, tr, nil), opts, kind, memberSub, false},
		}
	}
	var cases []badCase
	add := func(c ...badCase) { cases = append(cases, c...) }
	none := condapkg.ReadOptions{}
	add(both("traversal", condapkg.ErrUnsafePath, "../x", none, index(), reg("../x", "pwned"))...)
	add(both("traversal first", condapkg.ErrUnsafePath, "info/../../x", none, reg("info/../../x", "pwned"), index())...)
	add(both("absolute", condapkg.ErrUnsafePath, "/etc/x", none, index(), reg("/etc/x", "pwned"))...)
	add(both("symlink escape", condapkg.ErrUnsafePath, "info/evil", none, index(), symlink("info/evil", "../../etc/passwd"))...)
	add(both("symlink absolute", condapkg.ErrUnsafePath, "info/evil", none, index(), symlink("info/evil", "/etc/passwd"))...)
	add(both("symlink dotdot after name", condapkg.ErrUnsafePath, "info/a", none,
		index(), symlink("info/s", "."), symlink("info/a", "s/../.."))...)
	add(both("member below symlink", condapkg.ErrUnsafePath, "info/s/x", none,
		index(), symlink("info/s", "recipe"), reg("info/s/x", "via link"))...)
	add(both("hardlink escape", condapkg.ErrUnsafePath, "info/h", none,
		index(), member{name: "info/h", typ: tar.TypeLink, link: "../x"})...)
	add(both("duplicate index.json", condapkg.ErrDuplicate, "info/index.json", none,
		index(), reg("info/about.json", "{}"), reg("./info/index.json", `{"name": "other"}`))...)
	// A tar is extracted whole and a later member wins: the second
	// index.json is the one an installer keeps.
	for _, c := range both("index.json again after the payload", condapkg.ErrDuplicate, "./info/index.json", none,
		index(), reg("lib/a", "a"), reg("./info/index.json", `{"name": "other"}`)) {
		c.fullOnly = c.file == stem+".tar.bz2"
		add(c)
	}
	add(both("file and directory", condapkg.ErrDuplicate, "info/recipe", none,
		index(), reg("info/recipe/meta.yaml", "x"), reg("info/recipe", "x"))...)
	add(both("huge declared index.json", condapkg.ErrTooLarge, "info/index.json", none,
		member{name: "info/index.json", typ: tar.TypeReg, data: []byte("{"), declared: 1 << 40})...)
	add(both("info file over cap", condapkg.ErrTooLarge, "info/about.json", condapkg.ReadOptions{MaxFileSize: 1 << 20},
		index(), reg("info/about.json", strings.Repeat(" ", 2<<20)))...)
	add(both("bomb", condapkg.ErrTooLarge, "info/test/zeros", condapkg.ReadOptions{MaxDecompressed: 1 << 20},
		reg("info/test/zeros", strings.Repeat("\x00", 3<<20)), index())...)
	add(both("no index.json", condapkg.ErrMissing, "info/index.json", none, reg("info/about.json", "{}"))...)
	add(both("index.json symlink", condapkg.ErrMalformed, "info/index.json", none,
		reg("info/about.json", "{}"), symlink("info/index.json", "about.json"))...)
	add(both("index.json directory", condapkg.ErrMalformed, "info/index.json", none,
		member{name: "info/index.json/", typ: tar.TypeDir})...)
	add(both("index.json not JSON", condapkg.ErrMalformed, "info/index.json", none, reg("info/index.json", "{name"))...)
	add(both("index.json an array", condapkg.ErrMalformed, "info/index.json", none, reg("info/index.json", `["x"]`))...)
	add(both("index.json null", condapkg.ErrMalformed, "info/index.json", none, reg("info/index.json", `null`))...)
	add(both("device", condapkg.ErrMalformed, "info/dev", none, index(), member{name: "info/dev", typ: tar.TypeChar})...)

	good := rawTar(t, index(), reg("info/about.json", "{}"))
	goodBz2, goodConda := bz2(t, good), conda(t, good, rawTar(t, reg("lib/x", "x")))
	add(badCase{"truncated/tar.bz2", stem + ".tar.bz2", goodBz2[:len(goodBz2)/2], none, condapkg.ErrMalformed, "", false},
		badCase{"truncated/conda", stem + ".conda", goodConda[:len(goodConda)-30], none, condapkg.ErrMalformed, "", false},
		badCase{"not bzip2", stem + ".tar.bz2", good, none, condapkg.ErrMalformed, "", false},
		badCase{"empty/tar.bz2", stem + ".tar.bz2", nil, none, condapkg.ErrMalformed, "", false},
		badCase{"empty/conda", stem + ".conda", nil, none, condapkg.ErrMalformed, "", false},
		badCase{"zip duplicate info member", stem + ".conda", rawZip(t,
			zipMember{name: "info-" + stem + ".tar.zst", data: zst(t, good)},
			zipMember{name: "info-" + stem + ".tar.zst", data: zst(t, rawTar(t, reg("info/index.json", `{"name": "other"}`)))}),
			none, condapkg.ErrDuplicate, "info-" + stem + ".tar.zst", false},
		badCase{"zip member deflated", stem + ".conda", rawZip(t,
			zipMember{name: "info-" + stem + ".tar.zst", data: zst(t, good), method: zip.Deflate}),
			none, condapkg.ErrMalformed, "info-" + stem + ".tar.zst", false},
		badCase{"no info member", stem + ".conda", rawZip(t,
			zipMember{name: "info-other-1-0.tar.zst", data: zst(t, good)}),
			none, condapkg.ErrMissing, "info-" + stem + ".tar.zst", false},
		badCase{"info member not zstd", stem + ".conda", rawZip(t,
			zipMember{name: "info-" + stem + ".tar.zst", data: good}),
			none, condapkg.ErrMalformed, "info-" + stem + ".tar.zst", false},
	)
	// A .conda's pkg- part is extracted into the same folder as its info-
	// part: an info/ file there replaces (or is replaced by) the one read.
	other := rawTar(t, reg("info/index.json", `{"name": "other"}`))
	pkgMember := "pkg-" + stem + ".tar.zst"
	pkgFirst := func(info, pkg []byte) []byte {
		return rawZip(t, zipMember{name: "metadata.json", data: []byte(condapkg.MetadataJSON)},
			zipMember{name: pkgMember, data: zst(t, pkg)}, zipMember{name: "info-" + stem + ".tar.zst", data: zst(t, info)})
	}
	zeros := strings.Repeat("\x00", 3<<20)
	add(badCase{"pkg part holds index.json", stem + ".conda", conda(t, good, other), none, condapkg.ErrDuplicate, pkgMember + ":info/index.json", true},
		badCase{"pkg part first holds index.json", stem + ".conda", pkgFirst(good, other), none, condapkg.ErrDuplicate, pkgMember + ":info/index.json", true},
		badCase{"pkg part holds an info file", stem + ".conda", conda(t, good, rawTar(t, reg("lib/a", "a"), reg("./info/paths.json", "{}"))),
			none, condapkg.ErrDuplicate, pkgMember + ":./info/paths.json", true},
		badCase{"pkg part repeats a payload file", stem + ".conda", conda(t, rawTar(t, index(), reg("lib/a", "a")), rawTar(t, reg("lib/a", "b"))),
			none, condapkg.ErrDuplicate, pkgMember + ":lib/a", true},
		badCase{"pkg part bomb", stem + ".conda", conda(t, good, rawTar(t, reg("lib/zeros", zeros))),
			condapkg.ReadOptions{MaxDecompressed: 1 << 20}, condapkg.ErrTooLarge, pkgMember + ":lib/zeros", true},
		badCase{"pkg part deflated", stem + ".conda", rawZip(t, zipMember{name: "info-" + stem + ".tar.zst", data: zst(t, good)},
			zipMember{name: pkgMember, data: zst(t, rawTar(t, reg("lib/a", "a"))), method: zip.Deflate}),
			none, condapkg.ErrMalformed, pkgMember, false},
	)
	corruptPkg := pkgFirst(good, rawTar(t, reg("lib/a", strings.Repeat("payload ", 1000))))
	corruptPkg[bytes.Index(corruptPkg, []byte{0x28, 0xb5, 0x2f, 0xfd})+20] ^= 0xff // inside the pkg- zstd frame
	add(badCase{"corrupt pkg zstd", stem + ".conda", corruptPkg, none, condapkg.ErrMalformed, pkgMember, true})
	corrupt := bytes.Clone(goodConda)
	corrupt[bytes.Index(corrupt, []byte{0x28, 0xb5, 0x2f, 0xfd})+20] ^= 0xff // inside the info- zstd frame
	add(badCase{"corrupt zstd", stem + ".conda", corrupt, none, condapkg.ErrMalformed, "info-" + stem + ".tar.zst", false})
	return cases
}

func checkFormatError(t *testing.T, err error, pkg string, kind error, memberSub string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var fe *condapkg.FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FormatError", err, err)
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q is not %v", err, kind)
	}
	if fe.Package != pkg {
		t.Errorf("Package = %q, want %q", fe.Package, pkg)
	}
	if !strings.Contains(fe.Member, memberSub) {
		t.Errorf("Member = %q, want it to contain %q (error %q)", fe.Member, memberSub, err)
	}
}

func TestReadHostile(t *testing.T) {
	for _, tc := range badArchives(t) {
		t.Run(tc.name, func(t *testing.T) {
			for _, infoOnly := range []bool{false, true} {
				opts := tc.opts
				opts.InfoOnly = infoOnly
				_, err := condapkg.ReadAt(bytes.NewReader(tc.data), int64(len(tc.data)), tc.file, opts)
				_, err2 := condapkg.Read(bytes.NewReader(tc.data), tc.file, opts)
				if infoOnly && tc.fullOnly {
					// Documented: InfoOnly does not look where the problem is.
					if err != nil || err2 != nil {
						t.Errorf("InfoOnly: %v / %v, want no error", err, err2)
					}
					continue
				}
				checkFormatError(t, err, tc.file, tc.kind, tc.member)
				checkFormatError(t, err2, tc.file, tc.kind, tc.member)
			}
		})
	}
}

func TestExtractHostile(t *testing.T) {
	for _, tc := range badArchives(t) {
		if tc.opts != (condapkg.ReadOptions{}) {
			continue // read limits; extraction limits are tested below
		}
		t.Run(tc.name, func(t *testing.T) {
			top := t.TempDir()
			p := filepath.Join(top, tc.file)
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(top, "dest", "prefix")
			err := condapkg.Extract(p, dest, condapkg.ExtractOptions{})
			checkFormatError(t, err, tc.file, tc.kind, tc.member)
			// Nothing was created beside the package and dest.
			entries, _ := os.ReadDir(top)
			if len(entries) != 2 {
				t.Errorf("extraction created files outside dest: %v", entries)
			}
			for _, name := range []string{"x", "etc"} {
				if _, err := os.Lstat(filepath.Join(top, "dest", name)); err == nil {
					t.Errorf("%s written outside dest", name)
				}
			}
		})
	}
	t.Run("bomb", func(t *testing.T) {
		zeros := reg("lib/zeros", strings.Repeat("\x00", 3<<20))
		for _, pkg := range []struct {
			file string
			data []byte
		}{
			{stem + ".tar.bz2", bz2(t, rawTar(t, index(), zeros))},
			{stem + ".conda", conda(t, rawTar(t, index()), rawTar(t, zeros))},
		} {
			p := filepath.Join(t.TempDir(), pkg.file)
			os.WriteFile(p, pkg.data, 0o644)
			err := condapkg.Extract(p, t.TempDir(), condapkg.ExtractOptions{MaxSize: 1 << 20})
			checkFormatError(t, err, pkg.file, condapkg.ErrTooLarge, "lib/zeros")
		}
	})
	t.Run("pkg member repeats an info file", func(t *testing.T) {
		data := conda(t, rawTar(t, index()), rawTar(t, reg("info/index.json", `{"name": "other"}`)))
		p := filepath.Join(t.TempDir(), stem+".conda")
		os.WriteFile(p, data, 0o644)
		err := condapkg.Extract(p, t.TempDir(), condapkg.ExtractOptions{})
		checkFormatError(t, err, stem+".conda", condapkg.ErrDuplicate, "pkg-"+stem+".tar.zst:info/index.json")
	})
}

func TestNotPackage(t *testing.T) {
	for _, name := range []string{"foo.zip", "foo.tar.gz", "foo.CONDA", ".conda", "foo.tar.bz2.part", "dir/.tar.bz2"} {
		t.Run(name, func(t *testing.T) {
			if _, err := condapkg.Read(strings.NewReader(""), name, condapkg.ReadOptions{}); !errors.Is(err, condapkg.ErrNotPackage) {
				t.Errorf("Read: %v", err)
			}
			if _, err := condapkg.ReadFile(filepath.Join(t.TempDir(), name), condapkg.ReadOptions{}); !errors.Is(err, condapkg.ErrNotPackage) {
				t.Errorf("ReadFile: %v", err)
			}
			if err := condapkg.Extract(name, t.TempDir(), condapkg.ExtractOptions{}); !errors.Is(err, condapkg.ErrNotPackage) {
				t.Errorf("Extract: %v", err)
			}
			var fe *condapkg.FormatError
			if _, err := condapkg.Read(strings.NewReader(""), name, condapkg.ReadOptions{}); errors.As(err, &fe) {
				t.Errorf("ErrNotPackage wrapped in a FormatError: %v", err)
			}
		})
	}
}

// flippingReaderAt serves different bytes at off once the sequential pass
// (which starts reading at offset 0) begins: a file replaced mid-read.
type flippingReaderAt struct {
	data    []byte
	flipAt  int64
	started bool
}

func (f *flippingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off == 0 {
		f.started = true
	}
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if f.started && f.flipAt >= off && f.flipAt < off+int64(n) {
		p[f.flipAt-off] ^= 1
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func TestReadCondaChangedWhileReading(t *testing.T) {
	spec := sampleSpec()
	name, data, err := spec.Archive(condapkg.Conda, condapkg.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte of the central directory: archive/zip read it before the
	// sequential pass, so the pass must notice the difference.
	cd := int64(bytes.LastIndex(data, []byte("PK\x01\x02")))
	r := &flippingReaderAt{data: data, flipAt: cd + 20}
	_, err = condapkg.ReadAt(r, int64(len(data)), name, condapkg.ReadOptions{})
	checkFormatError(t, err, name, condapkg.ErrMalformed, "")
	if !strings.Contains(err.Error(), "changed while being read") {
		t.Errorf("error %q", err)
	}
}

// TestInfoAnywhere: a .tar.bz2 may put info/ after the payload, or spread it.
func TestInfoAnywhere(t *testing.T) {
	for _, tc := range []struct {
		name       string
		members    []member
		fast, full []string // Files keys expected with and without InfoOnly
	}{
		{"info last", []member{reg("lib/a", "a"), reg("bin/b", "b"), index(), reg("info/run_exports.json", "{}")},
			[]string{"info/run_exports.json"}, []string{"info/run_exports.json"}},
		{"info split", []member{reg("info/about.json", "{}"), index(), reg("lib/a", "a"), reg("info/run_exports.json", "{}")},
			[]string{"info/about.json"}, []string{"info/about.json", "info/run_exports.json"}},
		{"all wanted early", []member{reg("info/about.json", "{}"), reg("info/paths.json", "{}"), index(),
			reg("info/run_exports.json", "{}"), reg("info/recipe/meta.yaml", "m"), reg("info/meta.yaml", "second")},
			[]string{"info/about.json", "info/paths.json", "info/recipe/meta.yaml", "info/run_exports.json"},
			[]string{"info/about.json", "info/paths.json", "info/recipe/meta.yaml", "info/run_exports.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := bz2(t, rawTar(t, tc.members...))
			for _, full := range []bool{false, true} {
				info, err := condapkg.Read(bytes.NewReader(data), stem+".tar.bz2", condapkg.ReadOptions{InfoOnly: !full})
				if err != nil {
					t.Fatal(err)
				}
				want := tc.fast
				if full {
					want = tc.full
				}
				var got []string
				for k := range info.Files {
					got = append(got, k)
				}
				if strings.Join(sortStrings(got), ",") != strings.Join(want, ",") || string(info.IndexJSON) != goodIndex {
					t.Errorf("InfoOnly=%v: files %q, want %q; index %s", !full, got, want, info.IndexJSON)
				}
				if info.Size != int64(len(data)) {
					t.Errorf("size %d", info.Size)
				}
			}
		})
	}
}

package condapkg_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/condatrust/condatrust/condapkg"
)

func sampleSpec() *condapkg.Spec {
	return &condapkg.Spec{
		Name: "demo-pkg", Version: "1.2.3", Build: "h123_0", BuildNumber: 0,
		Subdir: "linux-64", Depends: []string{"libc >=2.17", "zlib"}, License: "BSD-3-Clause",
		Timestamp: 1700000000123,
		Extra:     map[string]any{"arch": "x86_64", "platform": "linux"},
		Files: map[string][]byte{
			"info/about.json":       []byte(`{"summary": "demo"}`),
			"info/run_exports.json": []byte(`{"weak": ["demo-pkg >=1.2.3"]}`),
			"info/recipe/meta.yaml": []byte("package:\n  name: demo-pkg\n"),
			"info/files":            []byte("lib/libdemo.so.1\n"),
			"lib/libdemo.so.1":      bytes.Repeat([]byte("ELF"), 1000),
			"share/doc/demo.txt":    []byte("hello <&> world\n"),
		},
		Symlinks: map[string]string{"lib/libdemo.so": "libdemo.so.1"},
	}
}

func digests(data []byte) (string, string) {
	m := md5.Sum(data)
	s := sha256.Sum256(data)
	return hex.EncodeToString(m[:]), hex.EncodeToString(s[:])
}

// TestRoundTrip writes packages in both formats, reads them back with every
// entry point, and extracts them.
func TestRoundTrip(t *testing.T) {
	spec := sampleSpec()
	wantIndex, err := spec.IndexJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []condapkg.Format{condapkg.TarBz2, condapkg.Conda} {
		t.Run(format.String(), func(t *testing.T) {
			name, data, err := spec.Archive(format, condapkg.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if name != "demo-pkg-1.2.3-h123_0."+format.String() {
				t.Errorf("file name %q", name)
			}
			// Deterministic: same input, same bytes.
			if _, again, _ := spec.Archive(format, condapkg.WriteOptions{}); !bytes.Equal(data, again) {
				t.Error("two writes of the same package differ")
			}
			wantMD5, wantSHA := digests(data)
			dir := t.TempDir()
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			readers := map[string]func() (*condapkg.Info, error){
				"ReadFile": func() (*condapkg.Info, error) { return condapkg.ReadFile(p, condapkg.ReadOptions{}) },
				"ReadAt": func() (*condapkg.Info, error) {
					return condapkg.ReadAt(bytes.NewReader(data), int64(len(data)), name, condapkg.ReadOptions{})
				},
				"Read": func() (*condapkg.Info, error) {
					return condapkg.Read(io.MultiReader(bytes.NewReader(data)), "sub/dir/"+name, condapkg.ReadOptions{})
				},
				"InfoOnly": func() (*condapkg.Info, error) {
					return condapkg.ReadFile(p, condapkg.ReadOptions{InfoOnly: true})
				},
			}
			for rname, read := range readers {
				t.Run(rname, func(t *testing.T) {
					info, err := read()
					if err != nil {
						t.Fatal(err)
					}
					if info.Filename != name || info.Format != format {
						t.Errorf("Filename=%q Format=%v", info.Filename, info.Format)
					}
					if info.Size != int64(len(data)) || info.MD5 != wantMD5 || info.SHA256 != wantSHA {
						t.Errorf("size=%d md5=%s sha256=%s; want %d %s %s", info.Size, info.MD5, info.SHA256, len(data), wantMD5, wantSHA)
					}
					if !bytes.Equal(info.IndexJSON, wantIndex) {
						t.Errorf("index.json = %s\nwant %s", info.IndexJSON, wantIndex)
					}
					wantFiles := map[string][]byte{}
					for _, k := range []string{"info/about.json", "info/run_exports.json", "info/recipe/meta.yaml"} {
						wantFiles[k] = spec.Files[k]
					}
					if !reflect.DeepEqual(info.Files, wantFiles) {
						t.Errorf("files = %q", info.Files)
					}
				})
			}
			t.Run("Extract", func(t *testing.T) {
				dest := filepath.Join(t.TempDir(), "prefix")
				if err := condapkg.Extract(p, dest, condapkg.ExtractOptions{}); err != nil {
					t.Fatal(err)
				}
				for name, want := range spec.Files {
					got, err := os.ReadFile(filepath.Join(dest, filepath.FromSlash(name)))
					if err != nil || !bytes.Equal(got, want) {
						t.Errorf("%s: %q, %v", name, got, err)
					}
				}
				if target, err := os.Readlink(filepath.Join(dest, "lib", "libdemo.so")); err != nil || target != "libdemo.so.1" {
					t.Errorf("symlink: %q, %v", target, err)
				}
				if got, _ := os.ReadFile(filepath.Join(dest, "info", "index.json")); !bytes.Equal(got, wantIndex) {
					t.Errorf("extracted index.json %s", got)
				}
				// Extracting again into the same place refuses to overwrite.
				if err := condapkg.Extract(p, dest, condapkg.ExtractOptions{}); err == nil {
					t.Error("second Extract into the same directory succeeded")
				}
			})
		})
	}
}

// TestWriteLayout checks the archive structure that conda expects.
func TestWriteLayout(t *testing.T) {
	spec := sampleSpec()
	t.Run("conda", func(t *testing.T) {
		_, data, err := spec.Archive(condapkg.Conda, condapkg.WriteOptions{Level: 19})
		if err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
			if f.Method != zip.Store {
				t.Errorf("%s: method %d, want STORED", f.Name, f.Method)
			}
			if f.Flags&0x8 != 0 {
				t.Errorf("%s: data descriptor used", f.Name)
			}
		}
		want := []string{"metadata.json", "info-demo-pkg-1.2.3-h123_0.tar.zst", "pkg-demo-pkg-1.2.3-h123_0.tar.zst"}
		if !reflect.DeepEqual(names, want) {
			t.Errorf("members %q, want %q", names, want)
		}
		if zr.Comment != "" {
			t.Errorf("archive comment %q", zr.Comment)
		}
		rc, _ := zr.File[0].Open()
		meta, _ := io.ReadAll(rc)
		if string(meta) != `{"conda_pkg_format_version": 2}` || len(meta) != 31 {
			t.Errorf("metadata.json %q", meta)
		}
	})
	t.Run("tar.bz2", func(t *testing.T) {
		_, data, err := spec.Archive(condapkg.TarBz2, condapkg.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(bzip2.NewReader(bytes.NewReader(data)))
		var names []string
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, hdr.Name)
			if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || !hdr.ModTime.Equal(condapkg.DefaultModTime) {
				t.Errorf("%s: uid=%d gid=%d uname=%q mtime=%v", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.ModTime)
			}
		}
		want := []string{"info/about.json", "info/files", "info/index.json", "info/recipe/meta.yaml",
			"info/run_exports.json", "lib/libdemo.so", "lib/libdemo.so.1", "share/doc/demo.txt"}
		if !reflect.DeepEqual(names, want) {
			t.Errorf("tar order %q\nwant %q", names, want)
		}
	})
}

// TestWriteFileFromDir writes from a directory (with an executable and a
// symlink) through os.DirFS, twice, and reads the result.
func TestWriteFileFromDir(t *testing.T) {
	src := t.TempDir()
	mustWrite := func(name string, data string, perm os.FileMode) {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), perm); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite("info/index.json", `{"name": "old"}`, 0o644)
	mustWrite("bin/tool", "#!/bin/sh\necho hi\n", 0o755)
	mustWrite("etc/conf", "x=1\n", 0o600)
	if err := os.Symlink("tool", filepath.Join(src, "bin", "tool-alias")); err != nil {
		t.Fatal(err)
	}
	index := []byte(`{"build": "0", "build_number": 0, "depends": [], "name": "tool", "subdir": "noarch", "version": "1"}`)
	for _, ext := range []string{".tar.bz2", ".conda"} {
		t.Run(ext, func(t *testing.T) {
			out := t.TempDir()
			p := filepath.Join(out, "tool-1-0"+ext)
			opts := condapkg.WriteOptions{IndexJSON: index, ModTime: time.Unix(1600000000, 0)}
			if err := condapkg.WriteFile(p, os.DirFS(src), opts); err != nil {
				t.Fatal(err)
			}
			first, _ := os.ReadFile(p)
			if err := condapkg.WriteFile(p, os.DirFS(src), opts); err != nil {
				t.Fatal(err)
			}
			second, _ := os.ReadFile(p)
			if !bytes.Equal(first, second) {
				t.Error("WriteFile is not deterministic")
			}
			info, err := condapkg.ReadFile(p, condapkg.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(info.IndexJSON, index) {
				t.Errorf("index.json %s", info.IndexJSON)
			}
			dest := t.TempDir()
			if err := condapkg.Extract(p, dest, condapkg.ExtractOptions{}); err != nil {
				t.Fatal(err)
			}
			if st, err := os.Stat(filepath.Join(dest, "bin", "tool")); err != nil || st.Mode().Perm() != 0o755 {
				t.Errorf("bin/tool: %v %v", st.Mode(), err)
			}
			if st, err := os.Stat(filepath.Join(dest, "etc", "conf")); err != nil || st.Mode().Perm() != 0o644 {
				t.Errorf("etc/conf: %v %v", st.Mode(), err)
			}
			if target, err := os.Readlink(filepath.Join(dest, "bin", "tool-alias")); err != nil || target != "tool" {
				t.Errorf("symlink %q %v", target, err)
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec condapkg.Spec
	}{
		{"dash in version", condapkg.Spec{Name: "a", Version: "1-2", Build: "0"}},
		{"empty build", condapkg.Spec{Name: "a", Version: "1"}},
		{"escaping symlink", condapkg.Spec{Name: "a", Version: "1", Build: "0", Symlinks: map[string]string{"lib/x": "../../etc"}}},
		{"absolute symlink", condapkg.Spec{Name: "a", Version: "1", Build: "0", Symlinks: map[string]string{"lib/x": "/etc"}}},
		{"bad path", condapkg.Spec{Name: "a", Version: "1", Build: "0", Files: map[string][]byte{"../x": nil}}},
		{"index.json in Files", condapkg.Spec{Name: "a", Version: "1", Build: "0", Files: map[string][]byte{"info/index.json": nil}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range []condapkg.Format{condapkg.TarBz2, condapkg.Conda} {
				if _, _, err := tc.spec.Archive(f, condapkg.WriteOptions{}); err == nil {
					t.Errorf("%v: no error", f)
				}
			}
		})
	}
	t.Run("no index.json", func(t *testing.T) {
		err := condapkg.WriteTarBz2(io.Discard, os.DirFS(t.TempDir()), condapkg.WriteOptions{})
		if err == nil {
			t.Error("no error")
		}
	})
	t.Run("IndexJSON not an object", func(t *testing.T) {
		err := condapkg.WriteConda(io.Discard, "a-1-0", os.DirFS(t.TempDir()), condapkg.WriteOptions{IndexJSON: []byte(`[1]`)})
		if err == nil {
			t.Error("no error")
		}
	})
}

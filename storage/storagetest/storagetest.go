// Package storagetest is the conformance suite every [storage.Store]
// implementation passes: the local folder and the S3 bucket run the same
// checks.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"slices"
	"testing"

	"github.com/condatrust/condatrust/storage"
)

// Run checks s, an empty store.
func Run(t *testing.T, s storage.Store) {
	ctx := context.Background()
	names := func(dir string) []string {
		t.Helper()
		objs, err := s.List(ctx, dir)
		if err != nil {
			t.Fatalf("List(%q): %v", dir, err)
		}
		var out []string
		for _, o := range objs {
			n := o.Name
			if o.Dir {
				n += "/"
			}
			out = append(out, n)
		}
		return out
	}
	if got := names(""); len(got) != 0 {
		t.Fatalf("empty store lists %v", got)
	}
	if got := names("noarch"); len(got) != 0 {
		t.Fatalf("missing folder lists %v", got)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 700<<10/16) // larger than every small-object limit used in tests
	for name, data := range map[string][]byte{
		"noarch/b.json":          []byte(`{"b":1}`),
		"noarch/a.conda":         big,
		"noarch/.cache/x.gob":    []byte("cache"),
		"linux-64/empty.tar.bz2": {},
		"key_mgr.json":           []byte("{}"),
	} {
		if err := s.Put(ctx, name, data); err != nil {
			t.Fatalf("Put(%s): %v", name, err)
		}
	}
	if got, want := names(""), []string{"key_mgr.json", "linux-64/", "noarch/"}; !slices.Equal(got, want) {
		t.Errorf("List top = %v, want %v", got, want)
	}
	if got, want := names("noarch"), []string{".cache/", "a.conda", "b.json"}; !slices.Equal(got, want) {
		t.Errorf("List noarch = %v, want %v", got, want)
	}
	objs, _ := s.List(ctx, "noarch")
	var a storage.Object
	for _, o := range objs {
		if o.Name == "a.conda" {
			a = o
		}
	}
	if a.Size != int64(len(big)) || a.ETag == "" {
		t.Errorf("a.conda listed as %+v", a)
	}

	r, err := s.Open(ctx, "noarch/a.conda")
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != int64(len(big)) || r.ETag() != a.ETag {
		t.Errorf("Open: size %d etag %q, listed %d %q", r.Size(), r.ETag(), a.Size, a.ETag)
	}
	// Random access first (the zip directory), then a sequential pass.
	for _, off := range []int64{int64(len(big)) - 22, int64(len(big)) - 70000, 30, 400000} {
		p := make([]byte, 22)
		if n, err := r.ReadAt(p, off); n != 22 || err != nil || !bytes.Equal(p, big[off:off+22]) {
			t.Errorf("ReadAt(%d) = %d, %v", off, n, err)
		}
	}
	p := make([]byte, 10)
	if n, err := r.ReadAt(p, int64(len(big))-4); n != 4 || err != io.EOF {
		t.Errorf("ReadAt past the end = %d, %v; want 4, EOF", n, err)
	}
	all, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil || !bytes.Equal(all, big) {
		t.Errorf("sequential ReadAt: %d bytes, %v", len(all), err)
	}
	r.Close()

	// Names with characters that URLs escape.
	odd := "noarch/pkg+cuda 1.0~rc=1.json"
	if err := s.Put(ctx, odd, []byte("odd")); err != nil {
		t.Fatalf("Put(%q): %v", odd, err)
	}
	if got, err := storage.ReadAll(ctx, s, odd); err != nil || string(got) != "odd" {
		t.Errorf("ReadAll(%q) = %q, %v", odd, got, err)
	}
	if err := s.Delete(ctx, odd); err != nil {
		t.Fatal(err)
	}
	got, err := storage.ReadAll(ctx, s, "noarch/b.json")
	if err != nil || string(got) != `{"b":1}` {
		t.Errorf("ReadAll = %q, %v", got, err)
	}
	got, err = storage.ReadAll(ctx, s, "linux-64/empty.tar.bz2")
	if err != nil || len(got) != 0 {
		t.Errorf("ReadAll(empty) = %q, %v", got, err)
	}
	if _, err := s.Open(ctx, "noarch/missing.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want fs.ErrNotExist", err)
	}
	// Put replaces whole; the ETag changes.
	if err := s.Put(ctx, "noarch/b.json", []byte(`{"b":22}`)); err != nil {
		t.Fatal(err)
	}
	if got, _ := storage.ReadAll(ctx, s, "noarch/b.json"); string(got) != `{"b":22}` {
		t.Errorf("after Put: %q", got)
	}
	if err := s.Delete(ctx, "noarch/b.json"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "noarch/b.json"); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
	if got, want := names("noarch"), []string{".cache/", "a.conda"}; !slices.Equal(got, want) {
		t.Errorf("after Delete: %v, want %v", got, want)
	}
	for _, bad := range []string{"/abs", "a/../b", "../x", "a//b", "a/"} {
		if err := s.Put(ctx, bad, nil); err == nil {
			t.Errorf("Put(%q) accepted", bad)
		}
	}
}

package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/condatrust/condatrust/internal/atomicfile"
)

// Folder is a [Store] over a local folder: the channel's top is the folder
// Dir. Put writes through internal/atomicfile (temporary file, fsync,
// rename), creating missing folders; symbolic links are followed, as a web
// server does. An object's ETag is its modification time in nanoseconds
// and its size, in hex.
type Folder struct {
	Dir string
}

// NewFolder returns the Store of the folder dir.
func NewFolder(dir string) *Folder { return &Folder{Dir: dir} }

// Path returns the local path of name.
func (f *Folder) Path(name string) string {
	if name == "" {
		return f.Dir
	}
	return filepath.Join(f.Dir, filepath.FromSlash(name))
}

// Location implements [Store]: the local path.
func (f *Folder) Location(name string) string { return f.Path(name) }

func fileETag(st fs.FileInfo) string {
	return strconv.FormatInt(st.ModTime().UnixNano(), 16) + "-" + strconv.FormatInt(st.Size(), 16)
}

// List implements [Store].
func (f *Folder) List(ctx context.Context, dir string) ([]Object, error) {
	if err := CheckName(dir); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(f.Path(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	objs := make([]Object, 0, len(ents))
	for _, e := range ents {
		o := Object{Name: e.Name()}
		var st fs.FileInfo
		if e.Type().IsRegular() {
			st, err = e.Info()
		} else {
			st, err = os.Stat(filepath.Join(f.Path(dir), e.Name())) // follows links
		}
		switch {
		case err != nil:
			o.Err = err
		case st.IsDir():
			o.Dir = true
		case !st.Mode().IsRegular():
			o.Err = errors.New("not a regular file")
		default:
			o.Size, o.ETag = st.Size(), fileETag(st)
		}
		objs = append(objs, o)
	}
	slices.SortFunc(objs, func(a, b Object) int { return strings.Compare(a.Name, b.Name) })
	return objs, nil
}

// Open implements [Store].
func (f *Folder) Open(ctx context.Context, name string) (Reader, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fh, err := os.Open(f.Path(name))
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, fmt.Errorf("%s: not a regular file", f.Path(name))
	}
	return &fileReader{File: fh, size: st.Size()}, nil
}

// fileReader reads a local file; its ETag is taken anew at each call, so
// that a caller comparing the ETags before and after reading sees a
// change made meanwhile.
type fileReader struct {
	*os.File
	size int64
}

func (r *fileReader) Size() int64 { return r.size }

func (r *fileReader) ETag() string {
	st, err := r.File.Stat()
	if err != nil {
		return ""
	}
	return fileETag(st)
}

// Put implements [Store].
func (f *Folder) Put(ctx context.Context, name string, data []byte) error {
	if err := CheckName(name); err != nil || name == "" {
		return fmt.Errorf("storage: cannot put %q", name)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := f.Path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, data, 0o644)
}

// Delete implements [Store].
func (f *Folder) Delete(ctx context.Context, name string) error {
	if err := CheckName(name); err != nil || name == "" {
		return fmt.Errorf("storage: cannot delete %q", name)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := os.Remove(f.Path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Package atomicfile writes files so that readers see either the old
// content or the new content, never a mix: the data goes to a temporary file
// in the same directory, which is synced and then renamed over the target.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExists is returned by [WriteNew] when the target already exists.
var ErrExists = fs.ErrExist

// WriteFile atomically replaces path with data, with the given permissions.
// The directory is synced after the rename so the new name is durable.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write atomically replaces path with what fill writes. If fill returns an
// error, the target is left untouched and the temporary file is removed.
func Write(path string, perm fs.FileMode, fill func(w io.Writer) error) error {
	tmp, err := create(path, perm)
	if err != nil {
		return err
	}
	if err := finish(tmp, fill); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return syncDir(filepath.Dir(path))
}

// WriteNew atomically creates path with data and fails with an error
// matching [ErrExists] if path already exists. It never replaces an existing
// file, even one created concurrently: the final step is a hard link, which
// fails when the name is taken.
func WriteNew(path string, data []byte, perm fs.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s: %w: refusing to overwrite it", path, ErrExists)
	}
	tmp, err := create(path, perm)
	if err != nil {
		return err
	}
	if err := finish(tmp, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w: refusing to overwrite it", path, ErrExists)
		}
		return err
	}
	return syncDir(filepath.Dir(path))
}

func create(path string, perm fs.FileMode) (*os.File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	return tmp, nil
}

func finish(tmp *os.File, fill func(w io.Writer) error) error {
	err := fill(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// Some file systems do not support syncing a directory; the rename has
	// happened either way, so that error is not worth failing the write.
	_ = d.Sync()
	return nil
}

// Package storage is where a channel's files live: a [Store] is a folder on
// this machine ([Folder]) or a bucket of S3-compatible object storage (the
// leaf package storage/s3store, kept apart so that nothing else imports an
// S3 client). The indexer reads and writes a channel only through a Store.
//
// # Names
//
// Names are slash-separated paths relative to the channel's top, such as
// "noarch/repodata.json"; "" is the top itself. They never start with a
// slash and hold no "." or ".." segment ([CheckName]).
//
// # Guarantees
//
// [Store.Put] replaces an object whole: a reader sees the old content or
// the new one, never a part, and an interrupted Put leaves the old one
// (a folder writes a temporary file and renames it; an S3 PUT is atomic
// per object). There is no ordering between objects: a caller that needs
// one (the indexer writes repodata.json last) makes its Puts in order and
// waits for each.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Object is one entry of a listing.
type Object struct {
	// Name is the entry's base name (no slash).
	Name string
	// Dir marks a folder (an S3 common prefix): something with objects
	// below it. Size and ETag are then zero.
	Dir bool
	// Size is the object's size in bytes.
	Size int64
	// ETag changes whenever the object's content may have changed: S3's
	// ETag, or for a file its modification time and size. Equal ETags and
	// sizes mean the content need not be read again.
	ETag string
	// Err is set for an entry that is listed but cannot be read as an
	// object (a folder's broken symbolic link, a device, a socket).
	Err error
}

// Store holds a channel's files. Implementations are safe for concurrent
// use. Errors for a missing object match [fs.ErrNotExist].
type Store interface {
	// List returns the entries directly inside the folder dir ("" for the
	// top), sorted by name: objects, and folders with Dir set. A folder
	// that does not exist lists as empty.
	List(ctx context.Context, dir string) ([]Object, error)
	// Open opens the object name for reading. The Reader reads one
	// version of it, whole or in ranges.
	Open(ctx context.Context, name string) (Reader, error)
	// Put replaces (or creates) the object name with data, whole.
	Put(ctx context.Context, name string, data []byte) error
	// Delete removes the object name; a missing object is not an error.
	Delete(ctx context.Context, name string) error
	// Location names the object (or the top, for "") for messages: a
	// local path, or an s3:// URL.
	Location(name string) string
}

// Reader reads one version of an object: sequentially (Read), or at
// offsets (ReadAt), which the archive readers need for a .conda's zip
// directory. Size and ETag are those of the version read.
type Reader interface {
	io.Reader
	io.ReaderAt
	io.Closer
	Size() int64
	// ETag is the version's ETag, as [Object.ETag]. A Reader whose object
	// was replaced while it was read returns an error from Read or
	// ReadAt, or (for a local file) reports the new ETag here.
	ETag() string
}

// CheckName refuses names that are not clean relative paths.
func CheckName(name string) error {
	if name == "" {
		return nil
	}
	if strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "\\") || path.Clean(name) != name ||
		name == ".." || strings.HasPrefix(name, "../") {
		return fmt.Errorf("storage: %q is not a clean relative name", name)
	}
	return nil
}

// ReadAll returns the whole content of the object name.
func ReadAll(ctx context.Context, s Store, name string) ([]byte, error) {
	r, err := s.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := make([]byte, 0, max(r.Size(), 0)+1)
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", s.Location(name), err)
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// IsNotExist reports whether err says that an object is missing.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// Join joins name segments with slashes, skipping empty ones.
func Join(elem ...string) string {
	var parts []string
	for _, e := range elem {
		if e != "" {
			parts = append(parts, e)
		}
	}
	return strings.Join(parts, "/")
}

package index

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/signer"
)

// signRepodata signs every record of the serialized repodata unsigned
// with each signer, through the repodata package's signer (the one code
// path for record signatures, shared with `conda-trust sign-repodata`).
// The signed repodata.json written by an earlier run, at previousPath, lets
// unchanged records keep their signatures instead of being signed again.
//
// The output is compact when layout is [Compact]; otherwise it is the
// reference signer's canonical layout (indented, no final newline).
func signRepodata(unsigned []byte, previousPath string, signers []signer.Signer, layout Layout) ([]byte, *repodata.SignStats, error) {
	f, err := repodata.Parse(unsigned)
	if err != nil {
		return nil, nil, fmt.Errorf("re-reading the unsigned output: %w", err)
	}
	opts := repodata.SignOptions{Signers: signers, Compact: layout == Compact}
	if prev, _, err := repodata.OpenPrevious(previousPath); err == nil {
		defer prev.Close()
		if prev.HasSignatures() {
			opts.Previous = prev
		}
	}
	var buf bytes.Buffer
	buf.Grow(len(unsigned) + len(unsigned)/4)
	stats, idx, err := repodata.SignWithIndex(&buf, f, opts)
	if err != nil {
		return nil, nil, err
	}
	// The signing index lets the next run skip splitting this output; it is
	// bound to these bytes, so writing it first is safe (and a failure only
	// costs speed).
	_ = idx.WriteFile(previousPath)
	return buf.Bytes(), stats, nil
}

// KeyMgrFile is the name of a channel's key_mgr metadata, at the top of
// the channel folder next to the subdirs.
const KeyMgrFile = "key_mgr.json"

// SignedChannel reports what says that the channel in channelDir is
// signed: its key_mgr.json, and the repodata.json of each subdir that
// [Index] would write (those of subdirs, plus noarch, or every subdir when
// subdirs is empty) that carries a "signatures" member. Indexing such a
// channel without signers writes its repodata.json without signatures, so
// clients that check signatures refuse every package; callers should not
// do it unasked. The repodata files are read only when there is no
// key_mgr.json. Nil means nothing says the channel is signed.
func SignedChannel(channelDir string, subdirs []string) ([]string, error) {
	km := filepath.Join(channelDir, KeyMgrFile)
	if _, err := os.Lstat(km); err == nil {
		return []string{km}, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	names, err := subdirNames(channelDir, subdirs)
	if err != nil {
		return nil, err
	}
	var signed []string
	for _, name := range names {
		path := filepath.Join(channelDir, name, RepodataFile)
		f, err := repodata.Open(path)
		if err != nil {
			continue // missing or unreadable: Index reports what matters
		}
		if f.HasSignatures() {
			signed = append(signed, path)
		}
		f.Close()
	}
	return signed, nil
}

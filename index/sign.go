package index

import (
	"bytes"
	"context"
	"fmt"

	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/storage"
)

// signRepodata signs every record of the serialized repodata unsigned
// with each signer, through the repodata package's signer (the one code
// path for record signatures, shared with `conda-trust sign-repodata`).
// The signed repodata.json written by an earlier run, previous (nil:
// none), lets unchanged records keep their signatures instead of being
// signed again.
//
// The output is compact when layout is [Compact]; otherwise it is the
// reference signer's canonical layout (indented, no final newline).
//
// localPath is where the output goes when the channel is a folder ("" in
// a bucket): there the previous file is read through its signing index
// (repodata.OpenPrevious) and the new output's index is written next to it.
func signRepodata(unsigned, previous []byte, localPath string, signers []signer.Signer, layout Layout) ([]byte, *repodata.SignStats, error) {
	f, err := repodata.Parse(unsigned)
	if err != nil {
		return nil, nil, fmt.Errorf("re-reading the unsigned output: %w", err)
	}
	opts := repodata.SignOptions{Signers: signers, Compact: layout == Compact}
	if localPath != "" {
		// A channel in a folder: the previous file is mapped, and its
		// signing index (if it still matches) spares splitting it.
		if prev, _, err := repodata.OpenPrevious(localPath); err == nil {
			defer prev.Close()
			if prev.HasSignatures() {
				opts.Previous = prev
			}
		}
	} else if previous != nil {
		if prev, err := repodata.Parse(previous); err == nil && prev.HasSignatures() {
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
	if localPath != "" {
		_ = idx.WriteFile(localPath)
	}
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
	return SignedStore(context.Background(), storage.NewFolder(channelDir), subdirs)
}

// SignedStore is [SignedChannel] for a channel in any [storage.Store];
// the names returned are the store's locations.
func SignedStore(ctx context.Context, st storage.Store, subdirs []string) ([]string, error) {
	top, err := st.List(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, o := range top {
		if o.Name == KeyMgrFile && !o.Dir {
			return []string{st.Location(KeyMgrFile)}, nil
		}
	}
	names, err := subdirNames(ctx, st, subdirs)
	if err != nil {
		return nil, err
	}
	var signed []string
	for _, name := range names {
		if signedRepodata(ctx, st, storage.Join(name, RepodataFile)) {
			signed = append(signed, st.Location(storage.Join(name, RepodataFile)))
		}
	}
	return signed, nil
}

// signedRepodata reports whether the repodata.json at name has
// signatures; a missing or unreadable one has none (Index reports what
// matters). A local file is memory-mapped rather than read.
func signedRepodata(ctx context.Context, st storage.Store, name string) bool {
	var f *repodata.File
	if folder, ok := st.(*storage.Folder); ok {
		var err error
		if f, err = repodata.Open(folder.Path(name)); err != nil {
			return false
		}
		defer f.Close()
	} else {
		data, err := storage.ReadAll(ctx, st, name)
		if err != nil {
			return false
		}
		if f, err = repodata.Parse(data); err != nil {
			return false
		}
	}
	return f.HasSignatures()
}

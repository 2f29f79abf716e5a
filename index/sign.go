package index

import (
	"bytes"
	"fmt"

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
	if prev, err := repodata.Open(previousPath); err == nil {
		defer prev.Close()
		if prev.HasSignatures() {
			opts.Previous = prev
		}
	}
	var buf bytes.Buffer
	buf.Grow(len(unsigned) + len(unsigned)/4)
	stats, err := repodata.Sign(&buf, f, opts)
	if err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), stats, nil
}

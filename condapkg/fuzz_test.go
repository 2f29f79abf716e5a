package condapkg_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/condapkg"
)

// fuzzSeeds returns generated packages and the hostile archives of one format.
func fuzzSeeds(f *testing.F, format condapkg.Format) [][]byte {
	var seeds [][]byte
	small := &condapkg.Spec{Name: "s", Version: "1", Build: "0", Files: map[string][]byte{"info/about.json": []byte("{}")}}
	for _, spec := range []*condapkg.Spec{sampleSpec(), small} {
		_, data, err := spec.Archive(format, condapkg.WriteOptions{})
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	for _, tc := range badArchives(f) {
		if strings.HasSuffix(tc.file, format.Ext()) && len(tc.data) < 64<<10 {
			seeds = append(seeds, tc.data)
		}
	}
	return seeds
}

// checkRead must never panic; errors must be typed, and successes must
// carry the right digests. Extract must keep everything inside its target.
func checkRead(t *testing.T, data []byte, name string) {
	opts := condapkg.ReadOptions{MaxFileSize: 1 << 20, MaxDecompressed: 4 << 20, MaxBuffered: 4 << 20}
	for _, infoOnly := range []bool{false, true} {
		opts.InfoOnly = infoOnly
		info, err := condapkg.ReadAt(bytes.NewReader(data), int64(len(data)), name, opts)
		if err != nil {
			var fe *condapkg.FormatError
			if !errors.As(err, &fe) || fe.Package != name {
				t.Fatalf("untyped error %v (%T)", err, err)
			}
			continue
		}
		sum := md5.Sum(data)
		if info.Size != int64(len(data)) || info.MD5 != hex.EncodeToString(sum[:]) || len(info.SHA256) != 64 {
			t.Fatalf("bad digests: %+v", info)
		}
		if !bytes.HasPrefix(bytes.TrimLeft(info.IndexJSON, " \t\r\n"), []byte("{")) {
			t.Fatalf("index.json %q", info.IndexJSON)
		}
	}
	top := t.TempDir()
	p := filepath.Join(top, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	err := condapkg.Extract(p, filepath.Join(top, "d"), condapkg.ExtractOptions{MaxSize: 8 << 20})
	var fe *condapkg.FormatError
	if err != nil && !errors.As(err, &fe) && !strings.Contains(err.Error(), "exists") {
		t.Logf("extract: %v", err) // I/O errors from os.Root are allowed, but logged
	}
	if entries, _ := os.ReadDir(top); len(entries) > 2 {
		t.Fatalf("Extract wrote outside its target: %v", entries)
	}
}

func FuzzReadTarBz2(f *testing.F) {
	for _, s := range fuzzSeeds(f, condapkg.TarBz2) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkRead(t, data, "fuzz-1-0.tar.bz2") })
}

func FuzzReadConda(f *testing.F) {
	for _, s := range fuzzSeeds(f, condapkg.Conda) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkRead(t, data, "evil-1-0.conda") })
}

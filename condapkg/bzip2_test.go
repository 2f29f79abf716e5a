package condapkg_test

import (
	"bytes"
	"compress/bzip2"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	dsbzip2 "github.com/dsnet/compress/bzip2"

	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/internal/testvectors"
)

// readBoth reads data with the current decoder and with compress/bzip2
// (the decoder before issue 14); it fails the test unless both give the
// same Info, or both fail with the same kind of FormatError.
func readBoth(t *testing.T, name string, data []byte, opts condapkg.ReadOptions) {
	t.Helper()
	read := func() (*condapkg.Info, error) {
		return condapkg.ReadAt(bytes.NewReader(data), int64(len(data)), name, opts)
	}
	got, err := read()
	var want *condapkg.Info
	var wantErr error
	t.Run("std", func(t *testing.T) {
		condapkg.UseStdBzip2(t)
		want, wantErr = read()
	})
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%s: new decoder: %v; compress/bzip2: %v", name, err, wantErr)
	}
	if err != nil {
		var fe, wfe *condapkg.FormatError
		if !errors.As(err, &fe) || !errors.As(wantErr, &wfe) || !errors.Is(err, wfe.Kind) {
			t.Fatalf("%s: new decoder: %v; compress/bzip2: %v", name, err, wantErr)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: records differ:\nnew %+v\nstd %+v", name, got, want)
	}
}

// corpusTarBz2 returns generated .tar.bz2 packages: small and multi-block
// ones, and the hostile archives of malicious_test.go.
func corpusTarBz2(t *testing.T) map[string][]byte {
	out := map[string][]byte{}
	rng := rand.New(rand.NewPCG(14, 4))
	for i, n := range []int{0, 100, 300 << 10, 1200 << 10} { // the last spans two blocks
		spec := sampleSpec()
		spec.Files["lib/payload.bin"] = payload(rng, n, 0.5)
		spec.Build = string(rune('a'+i)) + "_0"
		name, data, err := spec.Archive(condapkg.TarBz2, condapkg.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = data
	}
	for _, tc := range badArchives(t) {
		if strings.HasSuffix(tc.file, ".tar.bz2") {
			out[tc.name+"|"+tc.file] = tc.data
		}
	}
	return out
}

// TestBzip2DecodersAgree: the pooled dsnet decoder gives the same records
// (and refuses the same archives) as compress/bzip2, also on concatenated
// streams, trailing bytes, truncation and corrupted bytes.
func TestBzip2DecodersAgree(t *testing.T) {
	for key, data := range corpusTarBz2(t) {
		name := key[strings.LastIndex(key, "|")+1:]
		readBoth(t, name, data, condapkg.ReadOptions{})
		readBoth(t, name, data, condapkg.ReadOptions{InfoOnly: true})
		if strings.Contains(key, "|") {
			continue // hostile: one variant is enough
		}
		// Concatenated streams: the tar continues in a second stream.
		tr := decodeStd(t, data)
		half := len(tr) / 2
		cat := append(bz2(t, tr[:half]), bz2(t, tr[half:])...)
		readBoth(t, name, cat, condapkg.ReadOptions{})
		readBoth(t, name, append(bytes.Clone(data), data...), condapkg.ReadOptions{})
		for _, tail := range []string{"\x00", "BZh9", "garbage"} {
			readBoth(t, name, append(bytes.Clone(data), tail...), condapkg.ReadOptions{})
		}
		for _, cut := range []int{1, 4, 10, len(data) / 2, len(data) - 1} {
			readBoth(t, name, data[:cut], condapkg.ReadOptions{})
		}
		rng := rand.New(rand.NewPCG(uint64(len(data)), 1))
		flips := 40
		if len(data) > 256<<10 {
			flips = 6
		}
		for range flips {
			bad := bytes.Clone(data)
			bad[4+rng.IntN(len(bad)-4)] ^= byte(1 + rng.IntN(255))
			readBoth(t, name, bad, condapkg.ReadOptions{})
		}
	}
}

// TestBzip2DecodersAgreeVectors runs the comparison on the reference
// packages of the shared vectors.
func TestBzip2DecodersAgreeVectors(t *testing.T) {
	dir := testvectors.Path(t, "packages")
	var n int
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".tar.bz2") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		readBoth(t, filepath.Base(p), data, condapkg.ReadOptions{})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Skip("no .tar.bz2 among the vectors")
	}
}

func decodeStd(t *testing.T, data []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(bzip2.NewReader(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzBzip2Decoders: on any input, the two decoders either both fail or
// both succeed with the same bytes.
func FuzzBzip2Decoders(f *testing.F) {
	for _, s := range fuzzSeeds(f, condapkg.TarBz2) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := io.ReadAll(io.LimitReader(bzip2.NewReader(bytes.NewReader(data)), 8<<20))
		d, _ := dsbzip2.NewReader(bytes.NewReader(data), nil)
		got, err := io.ReadAll(io.LimitReader(d, 8<<20))
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("dsnet: %v; compress/bzip2: %v", err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("outputs differ (%d and %d bytes)", len(got), len(want))
		}
	})
}

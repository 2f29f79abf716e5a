package repodata

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/signer"
)

// writeSignedFile signs in into dir/name with a signing index.
func writeSignedFile(t *testing.T, dir, name string, in []byte, opts SignOptions) string {
	t.Helper()
	f, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	opts.WriteIndex = true
	st, err := WriteSigned(path, f, opts)
	if err != nil || st.IndexError != "" {
		t.Fatal(err, st)
	}
	return path
}

// TestSignIndexLocatesEverything: a File built from the signing index has
// exactly the records and signatures entries that splitting the file
// finds, in both layouts, with a name in both sections.
func TestSignIndexLocatesEverything(t *testing.T) {
	key := harnessKey(t)
	in := synthRepodata([]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, nil)
	// The same record under the same name in both sections.
	fn, rec := "dup-1.0-0.tar.bz2", `{"build":"0","build_number":0,"depends":[],"name":"dup","subdir":"linux-64","version":"1.0"}`
	in = bytes.Replace(in, []byte(`"packages":{`), []byte(`"packages":{"`+fn+`":`+rec+`,`), 1)
	in = bytes.Replace(in, []byte(`"packages.conda":{`), []byte(`"packages.conda":{"`+fn+`":`+rec+`,`), 1)
	for _, compact := range []bool{false, true} {
		dir := t.TempDir()
		path := writeSignedFile(t, dir, "signed.json", in, SignOptions{Signers: []signer.Signer{key}, Compact: compact})
		split, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer split.Close()
		indexed, why := openIndexed(path)
		if indexed == nil {
			t.Fatalf("compact %v: index not used: %s", compact, why)
		}
		defer indexed.Close()
		if !reflect.DeepEqual(split.records, indexed.records) || split.nPkgs != indexed.nPkgs {
			t.Errorf("compact %v: records differ", compact)
		}
		if !reflect.DeepEqual(split.sigs, indexed.sigs) {
			t.Errorf("compact %v: signatures entries differ:\n%v\n%v", compact, split.sigs, indexed.sigs)
		}
	}
}

// TestSignIncrementalWithIndex: incremental signing with the previous file
// opened through its index gives a full sign's bytes, and so it does when
// the index is missing, stale (the signed file changed), damaged, or
// edited consistently (checksum recomputed) to point at other bytes.
func TestSignIncrementalWithIndex(t *testing.T) {
	key := harnessKey(t)
	const n = 1200
	var old, cur []int
	for i := range n {
		if i%97 != 5 {
			old = append(old, i)
		}
		if i%50 != 7 {
			cur = append(cur, i)
		}
	}
	cur = append(cur, n, n+1)
	oldIn, newIn := synthRepodata(old, nil), synthRepodata(cur, map[int]bool{10: true, 600: true})
	for _, compact := range []bool{false, true} {
		opts := SignOptions{Signers: []signer.Signer{key}, Compact: compact}
		full, _ := signBytes(t, newIn, opts)
		for _, tc := range []struct {
			name      string
			spoil     func(t *testing.T, path string)
			wantIndex bool // the index is used
			wantReuse bool
		}{
			{"index", func(*testing.T, string) {}, true, true},
			{"missing", func(t *testing.T, p string) { os.Remove(p + IndexSuffix) }, false, true},
			{"stale: file re-signed without index", func(t *testing.T, p string) {
				// Another key's signatures: same size, other bytes.
				other := testKey(t, "pkg_mgr-1")
				f, _ := Parse(oldIn)
				if _, err := WriteSigned(p, f, SignOptions{Signers: []signer.Signer{other}, Compact: compact}); err != nil {
					t.Fatal(err)
				}
			}, false, false},
			{"stale: one byte of the file edited", func(t *testing.T, p string) {
				data, _ := os.ReadFile(p)
				i := bytes.Index(data, []byte(`"version"`))
				data[i+1] = 'V'
				os.WriteFile(p, data, 0o644)
			}, false, true},
			{"damaged", func(t *testing.T, p string) {
				data, _ := os.ReadFile(p + IndexSuffix)
				data[len(indexMagic)+50] ^= 1
				os.WriteFile(p+IndexSuffix, data, 0o644)
			}, false, true},
			{"edited: offsets swapped, checksum recomputed", func(t *testing.T, p string) {
				data, _ := os.ReadFile(p + IndexSuffix)
				body := data[:len(data)-32]
				// The records' offsets of the first two records swapped.
				q := len(indexMagic) + 32 + 8 + 1 + 8 + 8
				ent := func() (int, int) {
					l := int(binary.BigEndian.Uint32(body[q:]))
					s := q + 4 + l
					q = s + 32
					return s, s + 32
				}
				a0, a1 := ent()
				b0, b1 := ent()
				tmp := bytes.Clone(body[a0:a1])
				copy(body[a0:a1], body[b0:b1])
				copy(body[b0:b1], tmp)
				sum := sha256.Sum256(body)
				copy(data[len(body):], sum[:])
				os.WriteFile(p+IndexSuffix, data, 0o644)
			}, true, true},
		} {
			t.Run(map[bool]string{false: "indented/", true: "compact/"}[compact]+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				path := writeSignedFile(t, dir, "signed.json", oldIn, opts)
				tc.spoil(t, path)
				prev, why, err := OpenPrevious(path)
				if err != nil {
					t.Fatal(err)
				}
				defer prev.Close()
				if (why == "") != tc.wantIndex {
					t.Errorf("index used %v (%q), want %v", why == "", why, tc.wantIndex)
				}
				f, err := Parse(newIn)
				if err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				o := opts
				o.Previous = prev
				st, err := Sign(&out, f, o)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), full) {
					t.Fatalf("output differs from a full sign (stats %+v)", st)
				}
				if (st.Reused > 0) != tc.wantReuse {
					t.Errorf("reused %d, rejected %q", st.Reused, st.PreviousRejected)
				}
			})
		}
	}
}

// TestWriteSignedIndexReplaced: re-signing without WriteIndex leaves no
// index that could be taken for the new file's... and an index written
// for the old file is refused for the new one.
func TestSignIndexRefusedForOtherFile(t *testing.T) {
	key := harnessKey(t)
	dir := t.TempDir()
	in := synthRepodata([]int{1, 2, 3}, nil)
	path := writeSignedFile(t, dir, "a.json", in, SignOptions{Signers: []signer.Signer{key}})
	other := writeSignedFile(t, dir, "b.json", synthRepodata([]int{1, 2, 4}, nil), SignOptions{Signers: []signer.Signer{key}})
	idx, _ := os.ReadFile(path + IndexSuffix)
	os.WriteFile(other+IndexSuffix, idx, 0o644)
	f, why, err := OpenPrevious(other)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if !strings.Contains(why, "edited or replaced") && !strings.Contains(why, "bytes") {
		t.Errorf("an index of another file: %q", why)
	}
}

func ExampleOpenPrevious() {
	dir, _ := os.MkdirTemp("", "sign")
	defer os.RemoveAll(dir)
	key, _ := signer.NewKey(bytes.Repeat([]byte{7}, 32))
	out := filepath.Join(dir, "repodata.json")
	sign := func(doc string) {
		f, err := Parse([]byte(doc))
		if err != nil {
			panic(err)
		}
		opts := SignOptions{Signers: []signer.Signer{key}, WriteIndex: true}
		// The file signed last time, located through its signing index.
		prev, indexIgnored, err := OpenPrevious(out)
		indexUsed := err == nil && indexIgnored == ""
		if err == nil {
			defer prev.Close()
			opts.Previous = prev
		}
		st, err := WriteSigned(out, f, opts)
		if err != nil {
			panic(err)
		}
		fmt.Printf("signed %d, reused %d, index used: %v\n", st.Signed, st.Reused, indexUsed)
	}
	// Records as conda-index writes them: keys sorted.
	sign(`{"packages":{"a-1-0.tar.bz2":{"build":"0","name":"a","subdir":"noarch","version":"1"}}}`)
	sign(`{"packages":{"a-1-0.tar.bz2":{"build":"0","name":"a","subdir":"noarch","version":"1"},"b-1-0.tar.bz2":{"build":"0","name":"b","subdir":"noarch","version":"1"}}}`)
	// Output:
	// signed 1, reused 0, index used: false
	// signed 1, reused 1, index used: true
}

// TestDigestWriter: the digest computed while writing equals the one of
// the file read back, for sizes around chunk boundaries and writes of any
// size.
func TestDigestWriter(t *testing.T) {
	data := make([]byte, 3*digestChunk+12345)
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}
	for _, size := range []int{0, 1, digestChunk - 1, digestChunk, digestChunk + 1, 2 * digestChunk, len(data)} {
		var out bytes.Buffer
		d := newDigestWriter(&out)
		for p, step := 0, 1; p < size; step = step*3 + 1 {
			n := min(step%(digestChunk+7), size-p)
			d.Write(data[p : p+n])
			p += n
		}
		got := d.sum()
		path := filepath.Join(t.TempDir(), "f")
		os.WriteFile(path, data[:size], 0o644)
		fh, _ := os.Open(path)
		want, err := fileDigest(nil, fh, int64(size))
		fh.Close()
		if err != nil || got != want || !bytes.Equal(out.Bytes(), data[:size]) {
			t.Errorf("size %d: digest while writing %x, of the file %x (%v)", size, got, want, err)
		}
		if mem, _ := fileDigest(data[:size], nil, int64(size)); mem != want {
			t.Errorf("size %d: digest of the bytes in memory differs", size)
		}
	}
}

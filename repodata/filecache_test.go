package repodata

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/condatrust/condatrust/signer"
)

func TestFileCacheRoundTrip(t *testing.T) {
	dir := t.TempDir()
	key, err := CacheKey(filepath.Join(dir, "trust", "k"))
	if err != nil {
		t.Fatal(err)
	}
	if again, err := CacheKey(filepath.Join(dir, "trust", "k")); err != nil || !bytes.Equal(again, key) {
		t.Fatalf("the key changed: %v", err)
	}
	path := filepath.Join(dir, "c")
	c, why, err := OpenFileCache(path, key, 100)
	if err != nil || why != "" {
		t.Fatal(err, why)
	}
	c.Add([32]byte{1})
	c.Add([32]byte{2})
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c, why, err = OpenFileCache(path, key, 100)
	if err != nil || why != "" || c.Len() != 2 || !c.Has([32]byte{1}) || c.Has([32]byte{3}) {
		t.Fatalf("reopened: %v %q %d", err, why, c.Len())
	}
	if h, m := c.Stats(); h != 1 || m != 1 {
		t.Errorf("stats %d %d", h, m)
	}
	// Under another key, damaged, truncated or extended: discarded whole.
	good, _ := os.ReadFile(path)
	other := bytes.Repeat([]byte{9}, 32)
	for name, tc := range map[string]struct {
		data []byte
		key  []byte
	}{
		"other key": {good, other},
		"bit flip":  {append(bytes.Clone(good[:40]), append([]byte{good[40] ^ 1}, good[41:]...)...), key},
		"truncated": {good[:len(good)-1], key},
		"extended":  {append(bytes.Clone(good), 0), key},
		"empty":     {nil, key},
	} {
		os.WriteFile(path, tc.data, 0o600)
		c, why, err := OpenFileCache(path, tc.key, 100)
		if err != nil || why == "" || c.Len() != 0 {
			t.Errorf("%s: %v %q %d keys", name, err, why, c.Len())
		}
	}
	// A key file others may read is refused.
	os.Chmod(filepath.Join(dir, "trust", "k"), 0o644)
	if _, err := CacheKey(filepath.Join(dir, "trust", "k")); err == nil {
		t.Error("a key file of mode 0644 was used")
	}
}

func FuzzDecodeFileCache(f *testing.F) {
	key := bytes.Repeat([]byte{1}, 32)
	f.Add(encodeFileCache([][32]byte{{1}, {2}}, key))
	f.Add([]byte(fileCacheMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := decodeFileCache(data, key)
		if err == nil && !bytes.Equal(encodeFileCache(keys, key), data) {
			t.Fatalf("accepted a file that does not re-encode to itself")
		}
	})
}

func FuzzSignIndex(f *testing.F) {
	key := harnessKey(f)
	in := synthRepodata([]int{1, 2, 3, 4}, nil)
	pf, err := Parse(in)
	if err != nil {
		f.Fatal(err)
	}
	var out bytes.Buffer
	_, idx, err := SignWithIndex(&out, pf, SignOptions{Signers: nil})
	if err == nil {
		f.Fatal("no signers accepted")
	}
	_, idx, err = SignWithIndex(&out, pf, SignOptions{Signers: signersOf(key)})
	if err != nil {
		f.Fatal(err)
	}
	data := out.Bytes()
	f.Add(idx.data)
	f.Fuzz(func(t *testing.T, ix []byte) {
		g, _ := fileFromIndex(data, nil, ix)
		if g == nil {
			return
		}
		// Whatever an index says, everything it locates lies in the file.
		for _, r := range g.records {
			if len(r.Raw) > 0 && (r.off < 0 || r.off+len(r.Raw) > len(data)) {
				t.Fatal("a record outside the file")
			}
		}
	})
}

func ExampleOpenFileCache() {
	dir, _ := os.MkdirTemp("", "cache")
	defer os.RemoveAll(dir)
	// The key lives where only its owner writes, outside the cache folder.
	key, err := CacheKey(filepath.Join(dir, "trust", "signature-cache.key"))
	if err != nil {
		panic(err)
	}
	c, discarded, err := OpenFileCache(filepath.Join(dir, "cache", "signatures.cache"), key, 1<<20)
	if err != nil {
		panic(err)
	}
	fmt.Printf("discarded: %q, keys: %d\n", discarded, c.Len())
	// v := &Verifier{...}; v.Cache = c; v.Verify(f); then:
	os.MkdirAll(filepath.Join(dir, "cache"), 0o700)
	if err := c.Save(); err != nil {
		panic(err)
	}
	// Output: discarded: "", keys: 0
}

func signersOf(keys ...*signer.Key) []signer.Signer {
	var out []signer.Signer
	for _, k := range keys {
		out = append(out, k)
	}
	return out
}

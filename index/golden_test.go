package index

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/internal/testvectors"
)

// TestGoldenChannelIndexData indexes the packages of conda-index's test
// channel and compares the output with conda-index's expected files:
// field by field, byte for byte in the indented layout (which the fixture
// uses), and against the SHA-256 of the compact layout given in
// channel-index.md §6.1.
func TestGoldenChannelIndexData(t *testing.T) {
	src := testvectors.Path(t, "packages/conda-index/channel-index_data")
	ch := t.TempDir()
	copyPackages(t, src, ch, "noarch", "osx-64")

	res, err := Index(context.Background(), ch, Options{Layout: Indented})
	if err != nil {
		t.Fatal(err)
	}
	if res.Partial() || res.Read != 4 || res.Cached != 0 {
		t.Fatalf("first run: read %d, cached %d, skipped %v; want 4 read", res.Read, res.Cached, res.Skipped)
	}
	for _, sub := range []string{"noarch", "osx-64"} {
		for _, name := range []string{RepodataFile, RepodataFromPackagesFile} {
			want, err := os.ReadFile(filepath.Join(src, sub, name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(ch, sub, name))
			if err != nil {
				t.Fatal(err)
			}
			compareRepodata(t, sub+"/"+name, got, want)
			if !bytes.Equal(got, want) {
				t.Errorf("%s/%s: bytes differ from the fixture (indented layout)\n got: %q\nwant: %q", sub, name, got, want)
			}
			checkZst(t, filepath.Join(ch, sub, name))
		}
	}

	// The compact layout, from the cache this time.
	res, err = Index(context.Background(), ch, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Read != 0 || res.Cached != 4 {
		t.Errorf("second run: read %d, cached %d; want everything from the cache", res.Read, res.Cached)
	}
	for _, c := range []struct {
		sub    string
		size   int
		sha256 string
	}{
		{"noarch", 769, "137a995eb058e8b9c47c7096f7139f1b91d66a20181bbd4174bdda45b3409fac"},
		{"osx-64", 695, "a63bb30e25fb5ee2422ab098ebadbd800b81e2aed27deb4fc61ba237e7132141"},
	} {
		got, err := os.ReadFile(filepath.Join(ch, c.sub, RepodataFile))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(got)
		if len(got) != c.size || hex.EncodeToString(sum[:]) != c.sha256 {
			t.Errorf("%s/repodata.json compact: %d bytes, sha256 %x; want %d bytes, %s\n%s", c.sub, len(got), sum, c.size, c.sha256, got)
		}
		checkZst(t, filepath.Join(ch, c.sub, RepodataFile))
	}
}

// TestGoldenRattlerTestServer compares with the conda-build-style output
// shipped with rattler's test server channel.
func TestGoldenRattlerTestServer(t *testing.T) {
	src := testvectors.Path(t, "packages/rattler/test-server-noarch")
	ch := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ch, "noarch"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(src, "test-package-0.1-0.tar.bz2"), filepath.Join(ch, "noarch", "test-package-0.1-0.tar.bz2"))
	if _, err := Index(context.Background(), ch, Options{Layout: Indented}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{RepodataFile, RepodataFromPackagesFile, CurrentRepodataFile} {
		want, _ := os.ReadFile(filepath.Join(src, name))
		got, _ := os.ReadFile(filepath.Join(ch, "noarch", name))
		compareRepodata(t, name, got, want)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: bytes differ\n got: %q\nwant: %q", name, got, want)
		}
	}
}

// TestRecordsMatchVerifyOutput builds the record of every package in
// vectors/packages and compares it with the index.json and checksums that
// an independent Python script extracted (VERIFY-OUTPUT.txt): the record
// must be index.json minus the drop list plus md5, sha256 and size.
func TestRecordsMatchVerifyOutput(t *testing.T) {
	out := testvectors.Read(t, "packages/VERIFY-OUTPUT.txt")
	root := testvectors.Path(t, "packages")
	head := regexp.MustCompile(`^== (\S+) \[(conda|tar\.bz2)\] size=(\d+) md5=([0-9a-f]{32}) sha256=([0-9a-f]{64})$`)
	lines := strings.Split(string(out), "\n")
	n := 0
	for i, line := range lines {
		m := head.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var indexJSON string
		for _, l := range lines[i+1:] {
			if strings.HasPrefix(l, "== ") {
				break
			}
			if s, ok := strings.CutPrefix(strings.TrimSpace(l), "index.json="); ok {
				indexJSON = s
			}
		}
		if indexJSON == "" {
			t.Fatalf("%s: no index.json line in VERIFY-OUTPUT.txt", m[1])
		}
		n++
		t.Run(m[1], func(t *testing.T) {
			info, err := condapkg.ReadFile(filepath.Join(root, m[1]), condapkg.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := RecordFromInfo(info)
			if err != nil {
				t.Fatal(err)
			}
			want := mustParse(t, "index.json", []byte(indexJSON))
			for _, k := range DropKeys {
				want = want.Without(k)
			}
			size, _ := strconv.ParseInt(m[3], 10, 64)
			want, _ = want.With("md5", canonjson.MustString(m[4]))
			want, _ = want.With("sha256", canonjson.MustString(m[5]))
			want, _ = want.With("size", canonjson.NewInt(size))
			if !got.Equal(want) {
				t.Errorf("record\n got %s\nwant %s", canonjson.Marshal(got), canonjson.Marshal(want))
			}
		})
	}
	if n != 27 {
		t.Errorf("found %d packages in VERIFY-OUTPUT.txt, want 27", n)
	}
}

func checkZst(t testing.TB, path string) {
	t.Helper()
	plain, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	comp, err := os.ReadFile(path + ZstSuffix)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	got, err := dec.DecodeAll(comp, nil)
	if err != nil || !bytes.Equal(got, plain) {
		t.Errorf("%s.zst does not decompress to %s (err %v)", path, filepath.Base(path), err)
	}
}

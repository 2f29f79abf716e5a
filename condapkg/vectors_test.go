package condapkg_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/internal/testvectors"
)

// verifiedPackage is one "== ..." block of vectors/packages/VERIFY-OUTPUT.txt.
type verifiedPackage struct {
	rel         string
	format      string
	size        int64
	md5, sha256 string
	indexJSON   map[string]any
	runExports  any // nil when the block has no run_exports.json line
}

var verifyHeader = regexp.MustCompile(`^== (\S+) \[(conda|tar\.bz2)\] size=(\d+) md5=([0-9a-f]{32}) sha256=([0-9a-f]{64})$`)

func loadVerifyOutput(t *testing.T) []*verifiedPackage {
	t.Helper()
	data := testvectors.Read(t, "packages/VERIFY-OUTPUT.txt")
	var out []*verifiedPackage
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := verifyHeader.FindStringSubmatch(line); m != nil {
			size, _ := strconv.ParseInt(m[3], 10, 64)
			out = append(out, &verifiedPackage{rel: m[1], format: m[2], size: size, md5: m[4], sha256: m[5]})
			continue
		}
		if len(out) == 0 {
			continue
		}
		cur := out[len(out)-1]
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "index.json="):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(trimmed, "index.json=")), &cur.indexJSON); err != nil {
				t.Fatalf("VERIFY-OUTPUT.txt: %s: %v", cur.rel, err)
			}
		case strings.HasPrefix(trimmed, "run_exports.json="):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(trimmed, "run_exports.json=")), &cur.runExports); err != nil {
				t.Fatalf("VERIFY-OUTPUT.txt: %s: %v", cur.rel, err)
			}
		}
	}
	if len(out) != 27 {
		t.Fatalf("VERIFY-OUTPUT.txt: parsed %d packages, want 27", len(out))
	}
	return out
}

// TestReadVectors reads every real package and checks size, digests and
// index.json against VERIFY-OUTPUT.txt, in both read modes and through
// ReadFile and Read.
func TestReadVectors(t *testing.T) {
	dir := testvectors.Path(t, "packages")
	for _, want := range loadVerifyOutput(t) {
		t.Run(want.rel, func(t *testing.T) {
			p := filepath.Join(dir, filepath.FromSlash(want.rel))
			for _, mode := range []struct {
				name string
				read func() (*condapkg.Info, error)
			}{
				{"ReadFile", func() (*condapkg.Info, error) { return condapkg.ReadFile(p, condapkg.ReadOptions{}) }},
				{"ReadFile/InfoOnly", func() (*condapkg.Info, error) {
					return condapkg.ReadFile(p, condapkg.ReadOptions{InfoOnly: true})
				}},
				{"Read", func() (*condapkg.Info, error) {
					f, err := os.Open(p)
					if err != nil {
						return nil, err
					}
					defer f.Close()
					return condapkg.Read(f, p, condapkg.ReadOptions{})
				}},
			} {
				t.Run(mode.name, func(t *testing.T) {
					info, err := mode.read()
					if err != nil {
						t.Fatal(err)
					}
					if info.Size != want.size || info.MD5 != want.md5 || info.SHA256 != want.sha256 {
						t.Errorf("got size=%d md5=%s sha256=%s, want size=%d md5=%s sha256=%s",
							info.Size, info.MD5, info.SHA256, want.size, want.md5, want.sha256)
					}
					if info.Format.String() != want.format {
						t.Errorf("format %v, want %s", info.Format, want.format)
					}
					var got map[string]any
					if err := json.Unmarshal(info.IndexJSON, &got); err != nil {
						t.Fatalf("index.json: %v", err)
					}
					if !reflect.DeepEqual(got, want.indexJSON) {
						t.Errorf("index.json = %v\nwant %v", got, want.indexJSON)
					}
					re, ok := info.Files["info/run_exports.json"]
					if (want.runExports != nil) != ok {
						t.Fatalf("run_exports.json present=%v, want %v", ok, want.runExports != nil)
					}
					if ok {
						var gotRE any
						if err := json.Unmarshal(re, &gotRE); err != nil || !reflect.DeepEqual(gotRE, want.runExports) {
							t.Errorf("run_exports.json = %s (%v), want %v", re, err, want.runExports)
						}
					}
				})
			}
		})
	}
}

// TestReadVectorsRepodata checks every record of the repodata.json files
// shipped next to real packages: md5, sha256 and size equal what ReadFile
// computes, and the other keys equal index.json minus conda-index's drop list.
func TestReadVectorsRepodata(t *testing.T) {
	dir := testvectors.Path(t, "packages")
	drop := map[string]bool{"arch": true, "has_prefix": true, "mtime": true, "platform": true, "ucs": true,
		"requires_features": true, "binstar": true, "target-triplet": true, "machine": true, "operatingsystem": true}
	matches, err := filepath.Glob(filepath.Join(dir, "*", "*", "*", "repodata.json"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(dir, "*", "*", "repodata.json"))
	matches = append(matches, more...)
	checked := 0
	for _, rd := range matches {
		var repodata struct {
			Packages      map[string]map[string]any `json:"packages"`
			PackagesConda map[string]map[string]any `json:"packages.conda"`
		}
		data, err := os.ReadFile(rd)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &repodata); err != nil {
			t.Fatalf("%s: %v", rd, err)
		}
		for _, records := range []map[string]map[string]any{repodata.Packages, repodata.PackagesConda} {
			for fn, rec := range records {
				rel, _ := filepath.Rel(dir, filepath.Join(filepath.Dir(rd), fn))
				t.Run(filepath.ToSlash(rel), func(t *testing.T) {
					info, err := condapkg.ReadFile(filepath.Join(filepath.Dir(rd), fn), condapkg.ReadOptions{})
					if errors.Is(err, os.ErrNotExist) {
						t.Skip("package file not shipped")
					}
					if err != nil {
						t.Fatal(err)
					}
					checked++
					if rec["md5"] != info.MD5 || rec["sha256"] != info.SHA256 || rec["size"] != float64(info.Size) {
						t.Errorf("record md5=%v sha256=%v size=%v; read md5=%s sha256=%s size=%d",
							rec["md5"], rec["sha256"], rec["size"], info.MD5, info.SHA256, info.Size)
					}
					var idx map[string]any
					if err := json.Unmarshal(info.IndexJSON, &idx); err != nil {
						t.Fatal(err)
					}
					for k, v := range idx {
						if drop[k] {
							continue
						}
						if !reflect.DeepEqual(rec[k], v) {
							t.Errorf("key %q: record %v, index.json %v", k, rec[k], v)
						}
					}
				})
			}
		}
	}
	if checked < 8 {
		t.Errorf("checked %d repodata records, want at least 8", checked)
	}
}

// TestReadVectorsInfoFiles pins which info/ files are returned, including
// the difference InfoOnly makes for conda-build's .tar.bz2 layout (recipe
// files sorted among the payload).
func TestReadVectorsInfoFiles(t *testing.T) {
	dir := testvectors.Path(t, "packages")
	keys := func(m map[string][]byte) []string {
		var k []string
		for p := range m {
			k = append(k, p)
		}
		return sortStrings(k)
	}
	for _, tc := range []struct {
		rel      string
		infoOnly bool
		want     []string
	}{
		{"conda-package-handling/mock-2.0.0-py37_1000.tar.bz2", true,
			[]string{"info/about.json", "info/paths.json"}},
		{"conda-package-handling/mock-2.0.0-py37_1000.tar.bz2", false,
			[]string{"info/about.json", "info/paths.json", "info/recipe/meta.yaml"}},
		{"conda-package-handling/mock-2.0.0-py37_1000.conda", false,
			[]string{"info/about.json", "info/paths.json", "info/recipe/meta.yaml"}},
		{"conda-index/channel-index_data/noarch/run_exports_versions-1.0-he35c369_0.tar.bz2", false,
			[]string{"info/about.json", "info/paths.json", "info/recipe/meta.yaml", "info/run_exports.json"}},
		{"conda-index/archives/nano-2.4.1-0.tar.bz2", false, nil},
		{"rattler/sparse/dotslash-test-1.0.0-0.conda", false, nil},
	} {
		t.Run(tc.rel+"/infoonly="+strconv.FormatBool(tc.infoOnly), func(t *testing.T) {
			info, err := condapkg.ReadFile(filepath.Join(dir, filepath.FromSlash(tc.rel)), condapkg.ReadOptions{InfoOnly: tc.infoOnly})
			if err != nil {
				t.Fatal(err)
			}
			if got := keys(info.Files); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("files %q, want %q", got, tc.want)
			}
		})
	}
}

// TestExtractVectors extracts every real package and finds index.json.
func TestExtractVectors(t *testing.T) {
	dir := testvectors.Path(t, "packages")
	for _, want := range loadVerifyOutput(t) {
		t.Run(want.rel, func(t *testing.T) {
			dest := t.TempDir()
			if err := condapkg.Extract(filepath.Join(dir, filepath.FromSlash(want.rel)), dest, condapkg.ExtractOptions{}); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(dest, "info", "index.json"))
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(data, &got); err != nil || !reflect.DeepEqual(got, want.indexJSON) {
				t.Errorf("extracted index.json = %s (%v)", data, err)
			}
		})
	}
}

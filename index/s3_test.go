package index

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/storage"
	"github.com/condatrust/condatrust/storage/s3store"
	"github.com/condatrust/condatrust/storage/s3store/s3test"
)

// requestCounter counts the S3 requests by kind.
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int
	next   http.RoundTripper
}

func newRequestCounter() *requestCounter {
	return &requestCounter{counts: map[string]int{}, next: http.DefaultTransport}
}

func (c *requestCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	kind := req.Method
	q := req.URL.Query()
	switch {
	case req.Method == http.MethodGet && (q.Has("list-type") || q.Has("delimiter") || q.Has("prefix")):
		kind = "LIST"
	case req.Method == http.MethodGet && (strings.HasSuffix(req.URL.Path, ".conda") || strings.HasSuffix(req.URL.Path, ".tar.bz2")):
		kind = "GET package"
	}
	c.mu.Lock()
	c.counts[kind]++
	c.mu.Unlock()
	return c.next.RoundTrip(req)
}

func (c *requestCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.counts
	c.counts = map[string]int{}
	return m
}

// upload copies every file below dir into st, through the S3 API.
func upload(t testing.TB, dir string, st storage.Store) {
	t.Helper()
	if err := s3test.Upload(context.Background(), st, dir); err != nil {
		t.Fatal(err)
	}
}

func s3Store(t testing.TB, srv *s3test.Server, url string, cfg s3store.Config) *s3store.Store {
	t.Helper()
	st, err := s3store.Open(url, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// outputs returns every output file of the subdirs of a store.
func outputs(t testing.TB, st storage.Store, subdirs ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, sub := range subdirs {
		for _, name := range []string{RepodataFile, RepodataFile + ZstSuffix, RepodataFromPackagesFile, RepodataFromPackagesFile + ZstSuffix} {
			data, err := storage.ReadAll(context.Background(), st, sub+"/"+name)
			if err != nil {
				t.Fatalf("%s: %v", st.Location(sub+"/"+name), err)
			}
			out[sub+"/"+name] = data
		}
	}
	return out
}

// TestIndexBucketSameAsFolder indexes the same channel (patched, signed,
// with a .sig file, both formats) in a folder and in a bucket, read whole
// and with ranged reads, and requires byte-identical outputs.
func TestIndexBucketSameAsFolder(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "channels")
	ch := smallChannel(t)
	if err := os.WriteFile(filepath.Join(ch, "linux-64", PatchInstructionsFile),
		[]byte(`{"patch_instructions_version":1,"packages":{"app-2.1-h1_0.tar.bz2":{"depends":["liba >=1.0,<2"]}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ch, "noarch", "data-0.1-0.conda.sig"), []byte("sig"), 0o644); err != nil {
		t.Fatal(err)
	}
	k, _ := signer.NewKey(make([]byte, 32))
	opts := Options{Signers: []signer.Signer{k}, CacheKey: testCacheKey}

	for _, tc := range []struct {
		name  string
		small int64
	}{{"whole", 0}, {"ranged", 64}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.Config()
			cfg.SmallObject = tc.small
			bucket := s3Store(t, srv, "s3://channels/"+tc.name+"/my-channel", cfg)
			upload(t, ch, bucket) // before the folder is indexed: packages only
			folder := t.TempDir()
			upload(t, ch, storage.NewFolder(folder))

			fres, err := Index(context.Background(), folder, opts)
			if err != nil {
				t.Fatal(err)
			}
			bres, err := IndexStore(context.Background(), bucket, opts)
			if err != nil {
				t.Fatal(err)
			}
			if bres.Read != 4 || fres.Read != 4 || bres.Partial() {
				t.Fatalf("read %d from the bucket, %d from the folder; skipped %v", bres.Read, fres.Read, bres.Skipped)
			}
			want := outputs(t, storage.NewFolder(folder), "noarch", "linux-64")
			got := outputs(t, bucket, "noarch", "linux-64")
			for name, w := range want {
				if !bytes.Equal(got[name], w) {
					t.Errorf("%s differs between the folder and the bucket:\nfolder: %.300s\nbucket: %.300s", name, w, got[name])
				}
			}
			if !bytes.Contains(want["linux-64/"+RepodataFile], []byte(`"liba >=1.0,<2"`)) || !bytes.Contains(want["noarch/"+RepodataFile], []byte(`"sig":"."`)) {
				t.Errorf("the outputs lack the patch or the legacy sig: %s", want["linux-64/"+RepodataFile])
			}
		})
	}
}

// TestIndexBucketIncremental checks the requests of re-index runs: with
// nothing changed, one listing per subdir (and one of the top), no
// package read and no write; with one package replaced, that one read.
func TestIndexBucketIncremental(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "channels")
	counter := newRequestCounter()
	cfg := srv.Config()
	cfg.Transport = counter
	st := s3Store(t, srv, "s3://channels/ch", cfg)
	upload(t, smallChannel(t), st)
	opts := Options{CacheKey: testCacheKey}
	if _, err := IndexStore(context.Background(), st, opts); err != nil {
		t.Fatal(err)
	}
	first := counter.take()
	if first["GET package"] != 4 {
		t.Errorf("first run: %d package GETs, want 4 (%v)", first["GET package"], first)
	}

	res, err := IndexStore(context.Background(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	got := counter.take()
	// noarch and linux-64, and the top to find them.
	if got["LIST"] != 3 || got["GET package"] != 0 || got["PUT"] != 0 || got["DELETE"] != 0 || res.Read != 0 || res.Cached != 4 {
		t.Errorf("unchanged re-index: requests %v, read %d, cached %d; want 3 LIST, no package GET, no PUT or DELETE", got, res.Read, res.Cached)
	}
	for _, s := range res.Subdirs {
		if len(s.Written) != 0 {
			t.Errorf("%s: wrote %v on an unchanged re-index", s.Subdir, s.Written)
		}
	}

	// Replace one package with another build of the same name.
	spec := condapkg.Spec{Name: "liba", Version: "1.0", Build: "0", Subdir: "linux-64", Timestamp: 1700000000001, License: "MIT",
		Files: map[string][]byte{"lib/liba.txt": []byte("a2")}}
	name, data, err := spec.Archive(condapkg.Conda, condapkg.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), "linux-64/"+name, data); err != nil {
		t.Fatal(err)
	}
	counter.take()
	res, err = IndexStore(context.Background(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	got = counter.take()
	if got["GET package"] != 1 || res.Read != 1 || res.Cached != 3 {
		t.Errorf("after replacing one package: requests %v, read %d, cached %d; want 1 package GET", got, res.Read, res.Cached)
	}
	rd, err := storage.ReadAll(context.Background(), st, "linux-64/"+RepodataFile)
	if err != nil || !bytes.Contains(rd, []byte(`"license":"MIT"`)) {
		t.Errorf("repodata.json after the change: %s, %v", rd, err)
	}
}

// orderStore records the Puts and fails the one named failOn.
type orderStore struct {
	storage.Store
	mu     sync.Mutex
	puts   []string
	failOn string
}

var errInjected = errors.New("injected failure")

func (o *orderStore) Put(ctx context.Context, name string, data []byte) error {
	if name == o.failOn {
		return errInjected
	}
	o.mu.Lock()
	o.puts = append(o.puts, name)
	o.mu.Unlock()
	return o.Store.Put(ctx, name, data)
}

// TestIndexWriteOrder checks, on a folder and on a bucket, that each
// subdir's repodata.json is written after its .zst and after
// repodata_from_packages.json, each .zst before its plain file, and that a run stopped before writing it
// (here, a failed upload) leaves the old repodata.json in place.
func TestIndexWriteOrder(t *testing.T) {
	stores := map[string]func(t *testing.T) storage.Store{
		"folder": func(t *testing.T) storage.Store { return storage.NewFolder(t.TempDir()) },
		"bucket": func(t *testing.T) storage.Store {
			srv := s3test.Start(t)
			srv.Bucket(t, "order")
			return s3Store(t, srv, "s3://order/ch", srv.Config())
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			base := mk(t)
			upload(t, smallChannel(t), base)
			st := &orderStore{Store: base}
			if _, err := IndexStore(context.Background(), st, Options{CacheKey: testCacheKey}); err != nil {
				t.Fatal(err)
			}
			for _, sub := range []string{"linux-64", "noarch"} {
				var seq []string
				for _, p := range st.puts {
					if d, f, _ := strings.Cut(p, "/"); d == sub && !strings.HasPrefix(f, CacheDir) {
						seq = append(seq, f)
					}
				}
				// The outputs derived from repodata.json come after it.
				want := []string{RepodataFromPackagesFile + ZstSuffix, RepodataFromPackagesFile, RepodataFile + ZstSuffix, RepodataFile,
					CurrentRepodataFile + ZstSuffix, CurrentRepodataFile}
				if !slices.Equal(seq, want) {
					t.Errorf("%s: writes %v, want %v", sub, seq, want)
				}
			}
			old, err := storage.ReadAll(context.Background(), base, "noarch/"+RepodataFile)
			if err != nil {
				t.Fatal(err)
			}
			// A new package, and the upload of repodata.json fails.
			spec := condapkg.Spec{Name: "newpkg", Version: "1", Build: "0"}
			fn, data, err := spec.Archive(condapkg.Conda, condapkg.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := base.Put(context.Background(), "noarch/"+fn, data); err != nil {
				t.Fatal(err)
			}
			st = &orderStore{Store: base, failOn: "noarch/" + RepodataFile}
			if _, err := IndexStore(context.Background(), st, Options{CacheKey: testCacheKey}); !errors.Is(err, errInjected) {
				t.Fatalf("run with a failing upload: %v", err)
			}
			now, err := storage.ReadAll(context.Background(), base, "noarch/"+RepodataFile)
			if err != nil || !bytes.Equal(now, old) {
				t.Errorf("repodata.json changed by a run that failed before writing it:\n%s", now)
			}
		})
	}
}

// TestIndexBucketGolden indexes conda-index's own test channel from a
// bucket and requires the bytes conda-index expects (indented layout),
// like TestGoldenChannelIndexData does from a folder.
func TestIndexBucketGolden(t *testing.T) {
	src := testvectors.Path(t, "packages/conda-index/channel-index_data")
	srv := s3test.Start(t)
	srv.Bucket(t, "golden")
	ch := t.TempDir()
	copyPackages(t, src, ch, "noarch", "osx-64")
	st := s3Store(t, srv, "s3://golden/channel-index", srv.Config())
	upload(t, ch, st)
	res, err := IndexStore(context.Background(), st, Options{Layout: Indented, CacheKey: testCacheKey})
	if err != nil {
		t.Fatal(err)
	}
	if res.Partial() || res.Read != 4 {
		t.Fatalf("read %d, skipped %v; want 4 read", res.Read, res.Skipped)
	}
	for _, sub := range []string{"noarch", "osx-64"} {
		for _, name := range []string{RepodataFile, RepodataFromPackagesFile} {
			want, err := os.ReadFile(filepath.Join(src, sub, name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := storage.ReadAll(context.Background(), st, sub+"/"+name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s/%s from the bucket: bytes differ from conda-index's\n got: %q\nwant: %q", sub, name, got, want)
			}
		}
	}
}

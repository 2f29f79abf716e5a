package condapkg_test

import (
	"crypto/md5"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/condatrust/condatrust/condapkg"
)

// The benchmark corpus is generated once per test binary run, in a
// temporary directory removed by TestMain.
var corpus struct {
	once  sync.Once
	dir   string
	files []benchFile
	err   error
}

type benchFile struct {
	path   string
	size   int64
	format condapkg.Format
}

func TestMain(m *testing.M) {
	code := m.Run()
	if corpus.dir != "" {
		os.RemoveAll(corpus.dir)
	}
	os.Exit(code)
}

const (
	corpusStems = 120 // each written as .conda and .tar.bz2: 240 packages
	largeEvery  = 7   // every 7th stem carries 1-10 MB of mostly random payload
)

// payload returns n bytes: random (incompressible) runs mixed with text.
func payload(rng *rand.Rand, n int, randomShare float64) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		chunk := min(4096, n-len(out))
		if rng.Float64() < randomShare {
			for i := 0; i < chunk; i += 8 {
				v := rng.Uint64()
				for j := 0; j < 8 && i+j < chunk; j++ {
					out = append(out, byte(v>>(8*j)))
				}
			}
		} else {
			for len(out) < n && chunk > 0 {
				s := fmt.Sprintf("symbol_%d = %d;\n", rng.IntN(5000), rng.IntN(1000000))
				out = append(out, s...)
				chunk -= len(s)
			}
			out = out[:min(len(out), n)]
		}
	}
	return out
}

func buildCorpus() (string, []benchFile, error) {
	dir, err := os.MkdirTemp("", "condapkg-bench")
	if err != nil {
		return "", nil, err
	}
	specs := make([]*condapkg.Spec, corpusStems)
	rng := rand.New(rand.NewChaCha8([32]byte{'c', 'o', 'n', 'd', 'a'}))
	for i := range specs {
		var lib []byte
		if i%largeEvery == 0 {
			lib = payload(rng, 1<<20+rng.IntN(9<<20), 0.8)
		} else {
			lib = payload(rng, 2<<10+rng.IntN(200<<10), 0.1)
		}
		name := fmt.Sprintf("bench-pkg%03d", i)
		specs[i] = &condapkg.Spec{
			Name: name, Version: "1.0", Build: "h0_0", Subdir: "linux-64",
			Depends: []string{"libc >=2.17", "python >=3.10"}, Timestamp: 1700000000000 + int64(i),
			Files: map[string][]byte{
				"info/about.json":       []byte(`{"summary": "benchmark package", "license": "MIT"}`),
				"info/paths.json":       []byte(`{"paths": [{"_path": "lib/libbench.so", "path_type": "hardlink"}], "paths_version": 1}`),
				"info/recipe/meta.yaml": []byte("package:\n  name: " + name + "\n"),
				"info/files":            []byte("lib/libbench.so\nshare/doc/README\n"),
				"lib/libbench.so":       lib,
				"share/doc/README":      payload(rng, 8<<10, 0),
			},
		}
	}
	var (
		mu    sync.Mutex
		files []benchFile
		next  atomic.Int64
		wg    sync.WaitGroup
		errs  = make(chan error, 1)
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= 2*len(specs) {
					return
				}
				format := condapkg.Conda
				if i%2 == 1 {
					format = condapkg.TarBz2
				}
				p, err := specs[i/2].WriteTo(dir, format, condapkg.WriteOptions{})
				var st os.FileInfo
				if err == nil {
					st, err = os.Stat(p)
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
				mu.Lock()
				files = append(files, benchFile{p, st.Size(), format})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		os.RemoveAll(dir)
		return "", nil, err
	default:
	}
	return dir, files, nil
}

type benchSet struct {
	name  string
	files []benchFile
	bytes int64
}

func benchSets(b *testing.B) []benchSet {
	b.Helper()
	corpus.once.Do(func() { corpus.dir, corpus.files, corpus.err = buildCorpus() })
	if corpus.err != nil {
		b.Fatal(corpus.err)
	}
	sets := []benchSet{{name: "all"}, {name: "conda"}, {name: "tar.bz2"}}
	for _, f := range corpus.files {
		for i := range sets {
			if i == 0 || sets[i].name == f.format.String() {
				sets[i].files = append(sets[i].files, f)
				sets[i].bytes += f.size
			}
		}
	}
	return sets
}

// runPool applies fn to every file with GOMAXPROCS workers.
func runPool(b *testing.B, files []benchFile, fn func(string) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				if err := fn(files[i].path); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func benchmark(b *testing.B, fn func(string) error) {
	for _, set := range benchSets(b) {
		b.Run(set.name, func(b *testing.B) {
			b.SetBytes(set.bytes)
			b.ReportMetric(float64(len(set.files)), "pkgs/op")
			for b.Loop() {
				runPool(b, set.files, fn)
			}
		})
	}
}

func readPackage(p string) error {
	_, err := condapkg.ReadFile(p, condapkg.ReadOptions{})
	return err
}

var hashBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func hashPackage(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := hashBufs.Get().(*[]byte)
	defer hashBufs.Put(buf)
	m, s := md5.New(), sha256.New()
	_, err = io.CopyBuffer(io.MultiWriter(m, s), f, *buf)
	m.Sum(nil)
	s.Sum(nil)
	return err
}

// BenchmarkRead: ReadFile on every package (index.json, info files, size,
// MD5, SHA-256), on all cores.
func BenchmarkRead(b *testing.B) { benchmark(b, readPackage) }

// BenchmarkReadInfoOnly: ReadFile with ReadOptions.InfoOnly, which
// decompresses only what the info/ files need.
func BenchmarkReadInfoOnly(b *testing.B) {
	benchmark(b, func(p string) error {
		_, err := condapkg.ReadFile(p, condapkg.ReadOptions{InfoOnly: true})
		return err
	})
}

// BenchmarkHashOnly: the floor, MD5 and SHA-256 of every package file, on
// all cores.
func BenchmarkHashOnly(b *testing.B) { benchmark(b, hashPackage) }

// BenchmarkReadVsHashOnly runs both passes in every iteration, so that they
// see the same machine load, and reports their throughputs and ratio.
func BenchmarkReadVsHashOnly(b *testing.B) {
	for _, set := range benchSets(b) {
		b.Run(set.name, func(b *testing.B) {
			var read, hash time.Duration
			for b.Loop() {
				t0 := time.Now()
				runPool(b, set.files, readPackage)
				t1 := time.Now()
				runPool(b, set.files, hashPackage)
				read += t1.Sub(t0)
				hash += time.Since(t1)
			}
			mb := float64(set.bytes) * float64(b.N) / 1e6
			b.ReportMetric(mb/read.Seconds(), "read-MB/s")
			b.ReportMetric(mb/hash.Seconds(), "hash-MB/s")
			b.ReportMetric(100*hash.Seconds()/read.Seconds(), "read/hash-%")
			b.ReportMetric(0, "ns/op")
		})
	}
}

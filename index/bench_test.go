package index

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/shards"
	"github.com/condatrust/condatrust/signer"
)

// The benchmark channels are generated once into the temporary folder
// (os.TempDir()/condatrust-index-bench-*) and reused by later runs; a
// channel whose generation did not finish has no "complete" marker and is
// generated again. See docs/performance-index.md.

// benchChannel describes a generated channel.
type benchChannel struct {
	name     string
	packages int
	// tarBz2Every makes every n-th package a .tar.bz2 (0: none).
	tarBz2Every int
	// tiny packages have a few hundred bytes of payload; otherwise sizes
	// follow mixedSize.
	tiny bool
}

// mixedSize draws a payload size: most packages are small, a few are
// large, as in a real channel (70% 2-20 kB, 25% 20-200 kB, 4.5%
// 200 kB-2 MB, 0.5% 2-8 MB, before compression).
func mixedSize(r *rand.Rand) int {
	switch p := r.IntN(1000); {
	case p < 700:
		return 2<<10 + r.IntN(18<<10)
	case p < 950:
		return 20<<10 + r.IntN(180<<10)
	case p < 995:
		return 200<<10 + r.IntN(1800<<10)
	default:
		return 2<<20 + r.IntN(6<<20)
	}
}

// payload returns n bytes that compress about 2.5 times, like package
// contents: text made of a small vocabulary, with random binary runs.
func payload(r *rand.Rand, n int) []byte {
	words := strings.Fields("lib bin share include the of and conda package python import def return self " +
		"class value error none true false from data path file name version build config test module")
	out := make([]byte, 0, n+64)
	for len(out) < n {
		if r.IntN(8) == 0 {
			chunk := make([]byte, 64+r.IntN(512))
			for i := range chunk {
				chunk[i] = byte(r.Uint32())
			}
			out = append(out, chunk...)
			continue
		}
		out = append(out, words[r.IntN(len(words))]...)
		if r.IntN(10) == 0 {
			out = append(out, '\n')
		} else {
			out = append(out, ' ')
		}
	}
	return out[:n]
}

func (c benchChannel) spec(i int) (condapkg.Spec, condapkg.Format, string) {
	r := rand.New(rand.NewPCG(uint64(i), 42))
	sub := "linux-64"
	if i%5 == 0 {
		sub = "noarch"
	}
	n := 300
	if !c.tiny {
		n = mixedSize(r)
	}
	s := condapkg.Spec{
		Name: fmt.Sprintf("pkg%05d", i/3), Version: fmt.Sprintf("1.%d", i%3), Build: fmt.Sprintf("h%08x_0", r.Uint32()),
		Subdir: sub, Timestamp: 1700000000000 + int64(i), License: "BSD-3-Clause",
		Depends: []string{"python >=3.9", fmt.Sprintf("pkg%05d", (i+7)%c.packages/3), "libzlib >=1.3,<2.0a0", "openssl >=3.0"},
		Extra:   map[string]any{"license_family": "BSD", "track_features": ""},
		Files:   map[string][]byte{fmt.Sprintf("share/pkg%d/data.bin", i): payload(r, n)},
	}
	if sub != "noarch" {
		s.Extra["arch"] = "x86_64"
		s.Extra["platform"] = "linux"
	}
	f := condapkg.Conda
	if c.tarBz2Every > 0 && i%c.tarBz2Every == 0 {
		f = condapkg.TarBz2
	}
	return s, f, sub
}

// dir returns the channel folder, generating it on first use.
func (c benchChannel) dir(b *testing.B) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("condatrust-index-bench-%s-%d-v1", c.name, c.packages))
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		return dir
	}
	b.Logf("generating %s in %s (once)", c.name, dir)
	start := time.Now()
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, c.packages)
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s, f, sub := c.spec(i)
				if _, err := s.WriteTo(filepath.Join(dir, sub), f, condapkg.WriteOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range c.packages {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "complete"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated in %s", time.Since(start).Round(time.Millisecond))
	return dir
}

// packageFiles lists the package files of a channel and their total size.
func packageFiles(b *testing.B, dir string) ([]string, int64) {
	var files []string
	var total int64
	for _, sub := range []string{"noarch", "linux-64"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil && !os.IsNotExist(err) {
			b.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".conda") || strings.HasSuffix(e.Name(), ".tar.bz2") {
				info, err := e.Info()
				if err != nil {
					b.Fatal(err)
				}
				files = append(files, filepath.Join(dir, sub, e.Name()))
				total += info.Size()
			}
		}
	}
	return files, total
}

// hashAll reads every file and computes MD5 and SHA-256 of it, on all
// cores: the lower bound of what a cold index must do.
func hashAll(files []string) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan string)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for p := range next {
				err := func() error {
					f, err := os.Open(p)
					if err != nil {
						return err
					}
					defer f.Close()
					m, s := md5.New(), sha256.New()
					for {
						n, err := f.Read(buf)
						m.Write(buf[:n])
						s.Write(buf[:n])
						if err == io.EOF {
							break
						}
						if err != nil {
							return err
						}
					}
					m.Sum(nil)
					s.Sum(nil)
					return nil
				}()
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
			}
		}()
	}
	for _, f := range files {
		next <- f
	}
	close(next)
	wg.Wait()
	return first
}

// removeOutputs deletes the caches and outputs of a channel, so that the
// next index run is a first run.
func removeOutputs(b *testing.B, dir string) {
	for _, sub := range []string{"noarch", "linux-64"} {
		for _, name := range []string{CacheDir, RepodataFile, RepodataFile + ZstSuffix,
			RepodataFromPackagesFile, RepodataFromPackagesFile + ZstSuffix,
			CurrentRepodataFile, CurrentRepodataFile + ZstSuffix, RunExportsFile, RunExportsFile + ZstSuffix,
			shards.IndexFile, shards.Dir, "../" + ChannelDataFile} {
			if err := os.RemoveAll(filepath.Join(dir, sub, name)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchmarkCold indexes the channel as a first run (no cache, no
// outputs), and in the same iteration reads and hashes every package as
// fast as the machine can; it reports both throughputs and their ratio.
func benchmarkCold(b *testing.B, c benchChannel, opts Options) {
	dir := c.dir(b)
	files, total := packageFiles(b, dir)
	if _, err := Index(context.Background(), dir, opts); err != nil { // outputs exist, page cache warm
		b.Fatal(err)
	}
	var rawTime, indexTime time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := hashAll(files); err != nil {
			b.Fatal(err)
		}
		removeOutputs(b, dir)
		t1 := time.Now()
		res, err := Index(context.Background(), dir, opts)
		if err != nil {
			b.Fatal(err)
		}
		indexTime += time.Since(t1)
		rawTime += t1.Sub(t0)
		if res.Read != len(files) || res.Partial() {
			b.Fatalf("read %d of %d packages, skipped %v", res.Read, len(files), res.Skipped)
		}
	}
	b.StopTimer()
	mb := float64(total) / 1e6 * float64(b.N)
	b.ReportMetric(mb/rawTime.Seconds(), "raw-MB/s")
	b.ReportMetric(mb/indexTime.Seconds(), "index-MB/s")
	b.ReportMetric(100*rawTime.Seconds()/indexTime.Seconds(), "%-of-raw")
	b.ReportMetric(float64(indexTime.Milliseconds())/float64(b.N), "index-ms")
	b.ReportMetric(float64(len(files))*float64(b.N)/indexTime.Seconds(), "pkgs/s")
	b.ReportMetric(float64(len(files)), "packages")
	b.ReportMetric(float64(total)/1e6, "MB")
}

// BenchmarkIndexCold: 3000 packages of mixed sizes, all .conda (as
// channels publish today).
func BenchmarkIndexCold(b *testing.B) {
	benchmarkCold(b, benchChannel{name: "conda", packages: 3000}, Options{})
}

// BenchmarkIndexColdAllOutputs is BenchmarkIndexCold also writing
// run_exports.json, channeldata.json and the shards.
func BenchmarkIndexColdAllOutputs(b *testing.B) {
	benchmarkCold(b, benchChannel{name: "conda", packages: 3000}, allOutputs)
}

// allOutputs turns on every output beyond repodata.json and
// current_repodata.json (which is on by default).
var allOutputs = Options{RunExports: true, ChannelData: true, Shards: true}

// BenchmarkIndexColdMixedFormats: the same with every fifth package a
// .tar.bz2, whose first bzip2 block must be decompressed.
func BenchmarkIndexColdMixedFormats(b *testing.B) {
	benchmarkCold(b, benchChannel{name: "mixed", packages: 3000, tarBz2Every: 5}, Options{})
}

// BenchmarkIndexColdHalfTarBz2: 1000 packages of mixed sizes, every
// other one a .tar.bz2 (a 50/50 channel, issue 14 item 4).
func BenchmarkIndexColdHalfTarBz2(b *testing.B) {
	benchmarkCold(b, benchChannel{name: "half", packages: 1000, tarBz2Every: 2}, Options{})
}

// BenchmarkIndexColdTarBz2: only .tar.bz2 packages.
func BenchmarkIndexColdTarBz2(b *testing.B) {
	benchmarkCold(b, benchChannel{name: "tarbz2", packages: 1000, tarBz2Every: 1}, Options{})
}

// BenchmarkIndexWarm re-indexes 10,000 unchanged packages: everything
// comes from the cache and no file is rewritten.
func BenchmarkIndexWarm(b *testing.B) {
	benchmarkWarm(b, Options{})
}

// BenchmarkIndexWarmAllOutputs re-indexes with run_exports.json,
// channeldata.json and the shards: all are rebuilt from the cache and
// compared with what is on disk, and none is rewritten.
func BenchmarkIndexWarmAllOutputs(b *testing.B) {
	benchmarkWarm(b, allOutputs)
}

// BenchmarkIndexWarmSigned is the same with a pkg_mgr key: unchanged
// records keep their signatures.
func BenchmarkIndexWarmSigned(b *testing.B) {
	k, err := signer.NewKey(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	benchmarkWarm(b, Options{Signers: []signer.Signer{k}})
}

// BenchmarkIndexWarmSignedAllOutputs is BenchmarkIndexWarmSigned with
// every output.
func BenchmarkIndexWarmSignedAllOutputs(b *testing.B) {
	k, err := signer.NewKey(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	opts := allOutputs
	opts.Signers = []signer.Signer{k}
	benchmarkWarm(b, opts)
}

func benchmarkWarm(b *testing.B, opts Options) {
	c := benchChannel{name: "tiny", packages: 10000, tiny: true}
	dir := c.dir(b)
	if _, err := Index(context.Background(), dir, opts); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		res, err := Index(context.Background(), dir, opts)
		if err != nil {
			b.Fatal(err)
		}
		if res.Cached != c.packages || res.Read != 0 {
			b.Fatalf("warm run read %d, cached %d", res.Read, res.Cached)
		}
		for _, s := range res.Subdirs {
			if len(s.Written) > 0 {
				b.Fatalf("warm run rewrote %s/%v", s.Subdir, s.Written)
			}
		}
		if len(res.Written) > 0 {
			b.Fatalf("warm run rewrote %v", res.Written)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/run")
}

// benchRepodata builds, in memory, the linux-64 index of the tiny
// benchmark channel (10,000 packages, 3,334 names, four dependencies
// each), without writing packages.
func benchRepodata(b *testing.B) *Repodata {
	c := benchChannel{name: "tiny", packages: 10000, tiny: true}
	r := NewRepodata("linux-64")
	for i := range c.packages {
		s, _, _ := c.spec(i)
		s.Subdir = "linux-64"
		idx := map[string]any{"name": s.Name, "version": s.Version, "build": s.Build, "build_number": 0,
			"depends": s.Depends, "license": s.License, "subdir": s.Subdir, "timestamp": s.Timestamp}
		data, err := json.Marshal(idx)
		if err != nil {
			b.Fatal(err)
		}
		rec, err := Record(data, 1000, fmt.Sprintf("%032x", i), fmt.Sprintf("%064x", i))
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Add(fmt.Sprintf("%s-%s-%s.conda", s.Name, s.Version, s.Build), rec); err != nil {
			b.Fatal(err)
		}
	}
	return r
}

// BenchmarkCurrentRepodata is the CPU cost of selecting
// current_repodata.json from 10,000 records (no I/O, not signed).
func BenchmarkCurrentRepodata(b *testing.B) {
	r := benchRepodata(b)
	b.ResetTimer()
	for range b.N {
		if cur := CurrentRepodata(r); len(cur.PackagesConda) == 0 {
			b.Fatal("empty")
		}
	}
}

// BenchmarkShards is the CPU cost of building the shards of 10,000
// records (3,334 names) from a serialized repodata.json: parse, split,
// msgpack, zstd and hash every shard, and the index.
func BenchmarkShards(b *testing.B) {
	data, err := benchRepodata(b).Marshal(Compact)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		f, err := repodata.Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		list, err := shards.FromRepodata(f, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := shards.Build("linux-64", list); err != nil {
			b.Fatal(err)
		}
	}
}

//go:build unix

package index

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/condatrust/condatrust/storage"
	"github.com/condatrust/condatrust/storage/s3store/s3test"
)

// s3BenchChannel is the channel of the folder-versus-bucket benchmarks:
// 2,000 packages of mixed sizes, all .conda.
var s3BenchChannel = benchChannel{name: "conda", packages: 2000}

// benchStores returns the benchmark channel as a folder and as a bucket
// of a versitygw server on loopback (uploaded once per run).
func benchStores(b *testing.B) map[string]storage.Store {
	dir := s3BenchChannel.dir(b)
	srv := s3test.Start(b)
	srv.Bucket(b, "bench")
	st := s3Store(b, srv, "s3://bench/channel", srv.Config())
	files, _ := packageFiles(b, dir)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, f)
		if err := st.Put(context.Background(), filepath.ToSlash(rel), data); err != nil {
			b.Fatal(err)
		}
	}
	benchSrv = srv
	return map[string]storage.Store{"folder": storage.NewFolder(dir), "bucket": st}
}

var benchSrv *s3test.Server

// removeStoreOutputs deletes the caches and outputs of a channel in a
// store, so that the next run is a first run.
func removeStoreOutputs(b *testing.B, st storage.Store) {
	for _, sub := range []string{"noarch", "linux-64"} {
		for _, name := range []string{CacheDir + "/" + CacheFile, RepodataFile, RepodataFile + ZstSuffix,
			RepodataFromPackagesFile, RepodataFromPackagesFile + ZstSuffix} {
			if err := st.Delete(context.Background(), sub+"/"+name); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkIndexStore indexes the same 2,000 packages from a folder and
// from a bucket on loopback: cold (every package read, every output
// written) and warm (nothing changed: listings only). Compare the two
// with benchstat -col /store (docs/performance.md).
func BenchmarkIndexStore(b *testing.B) {
	stores := benchStores(b)
	for _, mode := range []string{"cold", "warm"} {
		for _, name := range []string{"folder", "bucket"} {
			st := stores[name]
			b.Run("run="+mode+"/store="+name, func(b *testing.B) {
				opts := Options{CacheKey: testCacheKey}
				if _, err := IndexStore(context.Background(), st, opts); err != nil {
					b.Fatal(err)
				}
				cpu0, srv0 := processCPU(), benchSrv.CPUTime()
				b.ResetTimer()
				for range b.N {
					if mode == "cold" {
						b.StopTimer()
						removeStoreOutputs(b, st)
						b.StartTimer()
					}
					res, err := IndexStore(context.Background(), st, opts)
					if err != nil {
						b.Fatal(err)
					}
					want := 0
					if mode == "cold" {
						want = s3BenchChannel.packages
					}
					if res.Read != want || res.Partial() {
						b.Fatalf("%s run read %d packages, want %d; skipped %v", mode, res.Read, want, res.Skipped)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/run")
				// CPU time of this process and of the S3 server, which
				// varies less than elapsed time on a shared machine
				// (the cold runs' deletions are included).
				b.ReportMetric(float64((processCPU()-cpu0).Milliseconds())/float64(b.N), "client-cpu-ms/run")
				b.ReportMetric(float64((benchSrv.CPUTime()-srv0).Milliseconds())/float64(b.N), "server-cpu-ms/run")
			})
		}
	}
}

// processCPU returns the CPU time (user and system) of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package repodata

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

var grownSigned struct {
	once sync.Once
	path string
	err  error
}

// signedGrown returns the benchmark's grown input (1% more records) signed,
// as the next version of the signed file.
func signedGrown(b *testing.B) string {
	bf := setupBench(b)
	grownSigned.once.Do(func() {
		grownSigned.path = filepath.Join(bf.dir, "signed-grown.json")
		prev, _, err := OpenPrevious(bf.signed)
		if err != nil {
			grownSigned.err = err
			return
		}
		defer prev.Close()
		f, err := Open(bf.grown)
		if err != nil {
			grownSigned.err = err
			return
		}
		defer f.Close()
		_, grownSigned.err = WriteSigned(grownSigned.path, f, SignOptions{Signers: []signer.Signer{bf.key}, Previous: prev})
	})
	if grownSigned.err != nil {
		b.Fatal(grownSigned.err)
	}
	return grownSigned.path
}

// BenchmarkVerifyFileCache is verify-repodata --cache DIR on the
// 303,000-record file that follows the benchmark's 300,000-record one (1%
// of records added). Each iteration runs, one after the other so that the
// machine's load hits both alike:
//   - first: an empty cache, as the first verification with --cache;
//   - after-1pct: the cache as the verification of the 300,000-record
//     file left it, so only the 1% new records' signatures are verified.
//
// Both load the cache file, verify and save it. It reports the wall and
// CPU time of each (first-s/op, after-1pct-s/op, first-cpu-s/op,
// after-1pct-cpu-s/op) and the ratios first/after-1pct (speedup,
// cpu-speedup): what --cache saves on a re-verification.
func BenchmarkVerifyFileCache(b *testing.B) {
	bf := setupBench(b)
	grown := signedGrown(b)
	d := trust.Delegation{Keys: []trust.PublicKey{bf.key.Public()}, Threshold: 1}
	key := make([]byte, 32)
	verify := func(b *testing.B, cachePath, path string) {
		c, why, err := OpenFileCache(cachePath, key, 1<<21)
		if err != nil || why != "" {
			b.Fatal(err, why)
		}
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		rep, err := (&Verifier{pkgMgr: d, Cache: c}).Verify(f)
		if err != nil || rep.Untrusted+rep.Unsigned != 0 {
			b.Fatal(err, rep.Untrusted, rep.Unsigned)
		}
		if err := c.Save(); err != nil {
			b.Fatal(err)
		}
	}
	// The cache the 300,000-record file leaves.
	warmPath := filepath.Join(b.TempDir(), "signatures.cache")
	verify(b, warmPath, bf.signed)
	warm, err := os.ReadFile(warmPath)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "signatures.cache")
	var wall, cpu [2]int64
	for b.Loop() {
		for run := range 2 {
			os.Remove(path)
			if run == 1 {
				if err := os.WriteFile(path, warm, 0o600); err != nil {
					b.Fatal(err)
				}
			}
			c0, t0 := processCPU(), time.Now()
			verify(b, path, grown)
			wall[run] += time.Since(t0).Nanoseconds()
			cpu[run] += processCPU() - c0
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(wall[0])/n/1e9, "first-s/op")
	b.ReportMetric(float64(wall[1])/n/1e9, "after-1pct-s/op")
	b.ReportMetric(float64(cpu[0])/n/1e9, "first-cpu-s/op")
	b.ReportMetric(float64(cpu[1])/n/1e9, "after-1pct-cpu-s/op")
	b.ReportMetric(float64(wall[0])/float64(wall[1]), "speedup")
	if cpu[1] > 0 {
		b.ReportMetric(float64(cpu[0])/float64(cpu[1]), "cpu-speedup")
	}
}

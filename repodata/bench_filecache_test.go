package repodata

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

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
// of records added):
//   - run=first: an empty cache, as the first verification with --cache;
//   - run=after-1pct: the cache as the verification of the 300,000-record
//     file left it, so only the 1% new records' signatures are verified.
//
// Both load the cache file, verify and save it. The ratio first/after-1pct
// is what --cache saves on a re-verification.
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
	warmDir := b.TempDir()
	warmPath := filepath.Join(warmDir, "signatures.cache")
	verify(b, warmPath, bf.signed)
	warm, err := os.ReadFile(warmPath)
	if err != nil {
		b.Fatal(err)
	}
	for _, run := range []string{"first", "after-1pct"} {
		b.Run("run="+run, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "signatures.cache")
			var cpu int64
			for b.Loop() {
				b.StopTimer()
				os.Remove(path)
				if run == "after-1pct" {
					if err := os.WriteFile(path, warm, 0o600); err != nil {
						b.Fatal(err)
					}
				}
				c0 := processCPU()
				b.StartTimer()
				verify(b, path, grown)
				b.StopTimer()
				cpu += processCPU() - c0
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu)/float64(b.N)/1e9, "cpu-s/op")
		})
	}
}

package repodata

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

var (
	changedOnce sync.Once
	changedPath string
	changedErr  error
)

// benchChanged returns the signed benchmark file with 1% of its records
// (every 100th) changed and signed again, the rest byte for byte as in
// bf.signed: what a channel looks like to a proxy after a repodata patch.
// It is made once per process, next to the other benchmark files.
func benchChanged(b *testing.B, bf *benchFiles) string {
	changedOnce.Do(func() {
		in, err := Open(bf.input)
		if err != nil {
			changedErr = err
			return
		}
		defer in.Close()
		input := filepath.Join(bf.dir, "changed-input.json")
		fh, err := os.Create(input)
		if err != nil {
			changedErr = err
			return
		}
		w := bufio.NewWriterSize(fh, 1<<20)
		w.WriteString(`{"info":{"subdir":"linux-64"}`)
		for s, sec := range []Section{Packages, PackagesConda} {
			w.WriteString(`,` + strconv.Quote(string(sec)) + `:{`)
			for i, r := range in.section(sec) {
				if i > 0 {
					w.WriteByte(',')
				}
				w.WriteString(strconv.Quote(r.Filename) + ":")
				if n := i + s*in.nPkgs; n%100 == 0 {
					w.Write(bytes.Replace(r.Raw, []byte(`"depends":[`), []byte(`"depends":["changed-dependency",`), 1))
				} else {
					w.Write(r.Raw)
				}
			}
			w.WriteByte('}')
		}
		w.WriteString(`,"removed":[],"repodata_version":1}`)
		if changedErr = w.Flush(); changedErr != nil {
			return
		}
		if changedErr = fh.Close(); changedErr != nil {
			return
		}
		f, err := Open(input)
		if err != nil {
			changedErr = err
			return
		}
		defer f.Close()
		prev, err := Open(bf.signed)
		if err != nil {
			changedErr = err
			return
		}
		defer prev.Close()
		changedPath = filepath.Join(bf.dir, "signed-changed.json")
		_, changedErr = WriteSigned(changedPath, f, SignOptions{Signers: []signer.Signer{bf.key}, Previous: prev})
	})
	if changedErr != nil {
		b.Fatal(changedErr)
	}
	return changedPath
}

// BenchmarkVerifyPrevious is a verifying proxy's refresh after a patch
// changed 1% of the 300,000 records, against its first verification. Every
// case runs with Keep (the proxy serves WriteTrusted's document) and a
// MemoryCache; files are opened beforehand (Open is not timed):
//
//   - run=first: the signed file into an empty cache, a proxy's first
//     verification;
//   - run=warm: the changed file with every signature of the first file
//     in the cache, no Previous (the proxy's refresh before Previous);
//   - run=previous: the same with Previous set to the first file's report.
//
// Each iteration of warm and previous starts from a copy of the same warm
// cache (made untimed), since verifying the changed records adds theirs.
// The ratio first/previous is what Previous brings (benchstat -col /run);
// cpu-ns/record is the process's CPU time in Verify per record.
func BenchmarkVerifyPrevious(b *testing.B) {
	bf := setupBench(b)
	changed := benchChanged(b, bf)
	d := trust.Delegation{Keys: []trust.PublicKey{bf.key.Public()}, Threshold: 1}
	var (
		prev *Report
		warm [][32]byte
		cpu  int64
	)
	verify := func(b *testing.B, path string, v *Verifier) *Report {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		c0 := processCPU()
		b.StartTimer()
		rep, err := v.Verify(f)
		b.StopTimer()
		cpu += processCPU() - c0
		if err != nil {
			b.Fatal(err)
		}
		if want := benchRecords - benchRecords/100; rep.Trusted != benchRecords && rep.Trusted < want {
			b.Fatalf("%d trusted", rep.Trusted)
		}
		return rep
	}
	for _, c := range []string{"first", "warm", "previous"} {
		b.Run("run="+c, func(b *testing.B) {
			if c != "first" && prev == nil {
				// The first verification, untimed (b.Loop resets the timer).
				b.StopTimer()
				cache := NewMemoryCache(2 * benchRecords)
				prev = verify(b, bf.signed, &Verifier{pkgMgr: d, Keep: true, Cache: cache})
				warm = cache.Keys()
				b.StartTimer()
			}
			cpu = 0
			reused := 0
			for b.Loop() {
				b.StopTimer()
				v := &Verifier{pkgMgr: d, Keep: true, Cache: NewMemoryCache(2 * benchRecords)}
				path := bf.signed
				if c != "first" {
					v.Cache.(*MemoryCache).AddAll(warm)
					path = changed
				}
				if c == "previous" {
					v.Previous = prev
				}
				rep := verify(b, path, v)
				reused = rep.Reused
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRecords, "ns/record")
			if cpu > 0 {
				b.ReportMetric(float64(cpu)/float64(b.N)/benchRecords, "cpu-ns/record")
			}
			b.ReportMetric(float64(reused), "reused")
		})
	}
}

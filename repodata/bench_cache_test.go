package repodata

import (
	"testing"

	"github.com/condatrust/condatrust/trust"
)

// BenchmarkVerifyCache verifies the signed 300,000-record file, already
// opened (Open is the same in every case and measured by BenchmarkOpen),
// with a SignatureCache:
//
//   - cache=none: no cache, every signature verified (BenchmarkVerify's work);
//   - cache=cold: into an empty cache, a proxy's first verification;
//   - cache=warm: every signature already in the cache, a re-verify;
//   - cache=warm-keep: the same with Verifier.Keep, as a proxy that writes
//     the trusted document runs it.
//
// The ratio none/warm is what a re-verify saves (benchstat -col /cache). Besides the wall time it
// reports cpu-ns/record, the CPU time (user and system, all threads) the
// process spent in Verify per record, which the load of a shared machine
// changes much less than the wall time.
func BenchmarkVerifyCache(b *testing.B) {
	bf := setupBench(b)
	d := trust.Delegation{Keys: []trust.PublicKey{bf.key.Public()}, Threshold: 1}
	var warm *MemoryCache
	var cpu int64
	verify := func(b *testing.B, v *Verifier) {
		f, err := Open(bf.signed)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		c0 := processCPU()
		b.StartTimer()
		rep, err := v.Verify(f)
		b.StopTimer()
		cpu += processCPU() - c0
		if err != nil || rep.Trusted != benchRecords {
			b.Fatalf("%v %d", err, rep.Trusted)
		}
	}
	for _, c := range []struct {
		name       string
		cold, warm bool
		keep       bool
	}{
		{name: "cache=none"},
		{name: "cache=cold", cold: true},
		{name: "cache=warm", warm: true},
		{name: "cache=warm-keep", warm: true, keep: true},
	} {
		b.Run(c.name, func(b *testing.B) {
			if c.warm && warm == nil {
				// One verification fills the cache (not timed: b.Loop
				// resets the timer).
				warm = NewMemoryCache(2 * benchRecords)
				b.StopTimer()
				verify(b, &Verifier{pkgMgr: d, Cache: warm})
				b.StartTimer()
			}
			cpu = 0
			for b.Loop() {
				v := &Verifier{pkgMgr: d, Keep: c.keep}
				switch {
				case c.cold:
					v.Cache = NewMemoryCache(2 * benchRecords)
				case c.warm:
					v.Cache = warm
				}
				b.StopTimer()
				verify(b, v)
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRecords, "ns/record")
			if cpu > 0 {
				b.ReportMetric(float64(cpu)/float64(b.N)/benchRecords, "cpu-ns/record")
			}
		})
	}
}

package repodata

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// BenchmarkSignAdd is a second pkg_mgr holder signing the signed
// 300,000-record file with KeepOthers: every record's existing signature
// is verified and kept, and the new key signs.
func BenchmarkSignAdd(b *testing.B) {
	bf := setupBench(b)
	other, _ := signer.NewKey(bytes.Repeat([]byte{43}, 32))
	d := &trust.Delegation{Keys: []trust.PublicKey{bf.key.Public(), other.Public()}, Threshold: 2}
	out := filepath.Join(bf.dir, "out.json")
	peak := peakRSS()
	var st *SignStats
	b.ResetTimer()
	for b.Loop() {
		st = signTo(b, bf.signed, out, SignOptions{Signers: []signer.Signer{other}, PkgMgr: d, KeepOthers: true})
	}
	b.StopTimer()
	if st.Kept != benchRecords || st.ThresholdMet != benchRecords {
		b.Fatalf("stats %+v", st)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRecords, "ns/record")
	reportPeak(b, peak, bf.signed)
}

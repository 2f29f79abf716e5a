package repodata

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/condatrust/condatrust/signer"
)

// BenchmarkResign signs the signed 300,000-record file with another key:
// every existing signature is read (and counted as dropped) and replaced.
func BenchmarkResign(b *testing.B) {
	bf := setupBench(b)
	other, _ := signer.NewKey(bytes.Repeat([]byte{43}, 32))
	out := filepath.Join(bf.dir, "out.json")
	peak := peakRSS()
	b.ResetTimer()
	for b.Loop() {
		signTo(b, bf.signed, out, SignOptions{Signers: []signer.Signer{other}})
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRecords, "ns/record")
	reportPeak(b, peak, bf.signed)
}

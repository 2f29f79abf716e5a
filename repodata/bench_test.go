package repodata

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/condatrust/condatrust/internal/memstat"
	"github.com/condatrust/condatrust/internal/synth"
	"github.com/condatrust/condatrust/signer"
)

// benchRecords is the size of the benchmark repodata: conda-forge's
// linux-64 has a little over 300,000 records.
const benchRecords = 300_000

var extraDeps = []string{"libstdcxx-ng >=12", "libgfortran5 >=12.3.0", "libgfortran-ng", "_openmp_mutex >=4.5",
	"libcblas >=3.9.0,<4.0a0", "libopenblas >=0.3.25,<1.0a0", "zstd >=1.5.5,<1.6.0a0", "lz4-c >=1.9.3,<1.10.0a0",
	"libcurl >=8.5.0,<9.0a0", "krb5 >=1.21.2,<1.22.0a0", "packaging >=20.0", "typing_extensions >=4.6"}

// benchRecord is synth.Record with a conda-forge-sized dependency list
// (about 700 bytes compact, as conda-forge's 254 MB for 300k+ records).
func benchRecord(i int, salt string) (string, []byte) {
	fn, rec := synth.Record(i, salt)
	var deps strings.Builder
	for d := range 3 + i%8 {
		fmt.Fprintf(&deps, "%q,", extraDeps[(i+d)%len(extraDeps)])
	}
	return fn, bytes.Replace(rec, []byte(`"depends":[`), []byte(`"depends":[`+deps.String()), 1)
}

// writeBenchRepodata writes a compact repodata of records 0..n-1 as
// conda-index would (sorted, compact) and returns its size.
func writeBenchRepodata(path string, n int) (int64, error) {
	type ent struct {
		fn string
		i  int
	}
	ents := make([]ent, n)
	for i := range n {
		fn, _ := benchRecord(i, "")
		ents[i] = ent{fn, i}
	}
	slices.SortFunc(ents, func(a, b ent) int { return strings.Compare(a.fn, b.fn) })
	fh, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	w := bufio.NewWriterSize(fh, 1<<20)
	w.WriteString(`{"info":{"subdir":"linux-64"}`)
	for _, sec := range []string{".tar.bz2", ".conda"} {
		name := "packages"
		if sec == ".conda" {
			name = "packages.conda"
		}
		w.WriteString(`,"` + name + `":{`)
		first := true
		for _, e := range ents {
			if !strings.HasSuffix(e.fn, sec) {
				continue
			}
			if !first {
				w.WriteByte(',')
			}
			first = false
			_, rec := benchRecord(e.i, "")
			w.WriteString(strconv.Quote(e.fn) + ":")
			w.Write(rec)
		}
		w.WriteByte('}')
	}
	w.WriteString(`,"removed":[],"repodata_version":1}`)
	if err := w.Flush(); err != nil {
		return 0, err
	}
	st, err := fh.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

type benchFiles struct {
	dir           string
	input         string // 300k records, unsigned, compact
	signed        string // input signed, default layout
	signedCompact string // input signed, compact
	grown         string // input plus 1% new records, unsigned
	key           *signer.Key
	err           error
}

var (
	benchOnce sync.Once
	bench     benchFiles
)

// setupBench generates the benchmark files once per process, in a
// temporary directory removed by TestMain.
func setupBench(b testing.TB) *benchFiles {
	benchOnce.Do(func() {
		bench.dir, bench.err = os.MkdirTemp("", "repodata-bench-")
		if bench.err != nil {
			return
		}
		bench.key, _ = signer.NewKey(bytes.Repeat([]byte{42}, 32))
		bench.input = filepath.Join(bench.dir, "input.json")
		bench.grown = filepath.Join(bench.dir, "grown.json")
		bench.signed = filepath.Join(bench.dir, "signed.json")
		bench.signedCompact = filepath.Join(bench.dir, "signed-compact.json")
		if _, bench.err = writeBenchRepodata(bench.input, benchRecords); bench.err != nil {
			return
		}
		if _, bench.err = writeBenchRepodata(bench.grown, benchRecords+benchRecords/100); bench.err != nil {
			return
		}
		for _, c := range []struct {
			out     string
			compact bool
		}{{bench.signed, false}, {bench.signedCompact, true}} {
			f, err := Open(bench.input)
			if err != nil {
				bench.err = err
				return
			}
			_, bench.err = WriteSigned(c.out, f, SignOptions{Signers: []signer.Signer{bench.key}, Compact: c.compact, WriteIndex: true})
			f.Close()
			if bench.err != nil {
				return
			}
		}
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return &bench
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

// peakRSS resets the peak-RSS counter, as in a process that just
// started (see memstat.PeakRSS).
func peakRSS() func() int64 { return memstat.PeakRSS(true) }

// reportPeak reports the peak resident memory, in MB and relative to the
// size of the file at path (the one signed or verified).
func reportPeak(b *testing.B, read func() int64, path string) {
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size())/(1<<20), "file-MB")
	if p := read(); p > 0 {
		b.ReportMetric(float64(p)/(1<<20), "peak-MB")
		b.ReportMetric(float64(p)/float64(st.Size()), "peak/file")
	}
}

// signTo opens in and signs it into out (no fsync: the disk is not what
// is measured here; WriteSigned adds one).
func signTo(b *testing.B, in, out string, opts SignOptions) *SignStats {
	f, err := Open(in)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	return signFileTo(b, f, out, opts)
}

func signFileTo(b *testing.B, f *File, out string, opts SignOptions) *SignStats {
	fh, err := os.Create(out)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	st, err := Sign(fh, f, opts)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkSign is a full sign of 300,000 records: open, split, parse,
// canonicalize, sign on all cores, write.
func BenchmarkSign(b *testing.B) {
	bf := setupBench(b)
	for _, compact := range []bool{false, true} {
		b.Run(map[bool]string{false: "canonical", true: "compact"}[compact], func(b *testing.B) {
			out := filepath.Join(bf.dir, "out.json")
			peak := peakRSS()
			b.ResetTimer()
			cpu0 := processCPU()
			for b.Loop() {
				signTo(b, bf.input, out, SignOptions{Signers: []signer.Signer{bf.key}, Compact: compact})
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e9, "cpu-s/op")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRecords, "ns/record")
			reportPeak(b, peak, bf.input)
		})
	}
}

// BenchmarkSignIncremental re-signs after 1% of records were added, with
// the previous signed output as Previous, opened through its signing
// index (OpenPrevious), as sign-repodata --incremental does.
func BenchmarkSignIncremental(b *testing.B) {
	bf := setupBench(b)
	for _, compact := range []bool{false, true} {
		b.Run(map[bool]string{false: "canonical", true: "compact"}[compact], func(b *testing.B) {
			prevPath := bf.signed
			if compact {
				prevPath = bf.signedCompact
			}
			out := filepath.Join(bf.dir, "out.json")
			peak := peakRSS()
			var st *SignStats
			b.ResetTimer()
			cpu0 := processCPU()
			for b.Loop() {
				// As the CLI does: open both files at once.
				var prev *File
				var err error
				done := make(chan struct{})
				var ignored string
				go func() { prev, ignored, err = OpenPrevious(prevPath); close(done) }()
				f, ferr := Open(bf.grown)
				<-done
				if err != nil || ferr != nil || ignored != "" {
					b.Fatal(err, ferr, ignored)
				}
				// And write the output's own index, as the CLI does.
				fh, err := os.Create(out)
				if err != nil {
					b.Fatal(err)
				}
				var ix *SignIndex
				st, ix, err = SignWithIndex(fh, f, SignOptions{Signers: []signer.Signer{bf.key}, Compact: compact, Previous: prev})
				if err != nil {
					b.Fatal(err)
				}
				fh.Close()
				if err := ix.WriteFile(out); err != nil {
					b.Fatal(err)
				}
				f.Close()
				prev.Close()
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e9, "cpu-s/op")
			if st.Reused != benchRecords || st.Signed != benchRecords/100 {
				b.Fatalf("stats %+v", st)
			}
			reportPeak(b, peak, bf.grown)
		})
	}
}

// BenchmarkVerify verifies every record of the signed 300,000-record file.
func BenchmarkVerify(b *testing.B) {
	bf := setupBench(b)
	v := &Verifier{}
	v.pkgMgr.Keys, v.pkgMgr.Threshold = append(v.pkgMgr.Keys, bf.key.Public()), 1
	peak := peakRSS()
	b.ResetTimer()
	cpu0 := processCPU()
	for b.Loop() {
		f, err := Open(bf.signed)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := v.Verify(f)
		if err != nil || rep.Trusted != benchRecords {
			b.Fatalf("%v %d", err, rep.Trusted)
		}
		f.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e9, "cpu-s/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRecords, "ns/record")
	reportPeak(b, peak, bf.signed)
}

// benchMessages returns the canonical bytes of the first records of the
// benchmark file: the messages the Ed25519 baselines sign and verify.
func benchMessages(b *testing.B) [][]byte {
	bf := setupBench(b)
	f, err := Open(bf.input)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var msgs [][]byte
	for _, r := range f.Records()[:4096] {
		c, err := r.Canonical()
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, c)
	}
	return msgs
}

// BenchmarkEd25519Sign is the baseline for the sign bound: one
// ed25519.Sign of a record's canonical bytes, on one core.
func BenchmarkEd25519Sign(b *testing.B) {
	msgs := benchMessages(b)
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, 32))
	i := 0
	for b.Loop() {
		ed25519.Sign(priv, msgs[i%len(msgs)])
		i++
	}
}

// BenchmarkEd25519Verify is the baseline for the verify bound.
func BenchmarkEd25519Verify(b *testing.B) {
	msgs := benchMessages(b)
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, 32))
	pub := priv.Public().(ed25519.PublicKey)
	sigs := make([][]byte, len(msgs))
	for i, m := range msgs {
		sigs[i] = ed25519.Sign(priv, m)
	}
	i := 0
	for b.Loop() {
		if !ed25519.Verify(pub, msgs[i%len(msgs)], sigs[i%len(msgs)]) {
			b.Fatal("bad signature")
		}
		i++
	}
}

// BenchmarkEd25519SignParallel is ed25519.Sign on all cores at once: on
// machines whose cores share execution units (SMT), it shows how much of
// the "/ cores" in the bound the hardware really delivers.
func BenchmarkEd25519SignParallel(b *testing.B) {
	msgs := benchMessages(b)
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, 32))
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := int(n.Add(1000))
		for pb.Next() {
			ed25519.Sign(priv, msgs[i%len(msgs)])
			i++
		}
	})
}

// BenchmarkEd25519VerifyParallel is ed25519.Verify on all cores at once.
func BenchmarkEd25519VerifyParallel(b *testing.B) {
	msgs := benchMessages(b)
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, 32))
	pub := priv.Public().(ed25519.PublicKey)
	sigs := make([][]byte, len(msgs))
	for i, m := range msgs {
		sigs[i] = ed25519.Sign(priv, m)
	}
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := int(n.Add(1000))
		for pb.Next() {
			if !ed25519.Verify(pub, msgs[i%len(msgs)], sigs[i%len(msgs)]) {
				b.Error("bad signature")
				return
			}
			i++
		}
	})
}

// BenchmarkOpen measures splitting the 300,000-record files.
func BenchmarkOpen(b *testing.B) {
	bf := setupBench(b)
	for _, c := range []struct{ name, path string }{{"compact", bf.input}, {"canonical", bf.signed}} {
		b.Run(c.name, func(b *testing.B) {
			st, _ := os.Stat(c.path)
			b.SetBytes(st.Size())
			for b.Loop() {
				f, err := Open(c.path)
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

// TestWriteBenchFile writes the benchmark repodata to the path in
// $REPODATA_BENCH_OUT (and the same plus 1% more records to
// $REPODATA_BENCH_OUT.grown), for measuring the command line with
// /usr/bin/time; see docs/performance-repodata.md. Skipped otherwise.
func TestWriteBenchFile(t *testing.T) {
	out := os.Getenv("REPODATA_BENCH_OUT")
	if out == "" {
		t.Skip("set REPODATA_BENCH_OUT to write the benchmark repodata")
	}
	if _, err := writeBenchRepodata(out, benchRecords); err != nil {
		t.Fatal(err)
	}
	if _, err := writeBenchRepodata(out+".grown", benchRecords+benchRecords/100); err != nil {
		t.Fatal(err)
	}
}

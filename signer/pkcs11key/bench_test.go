//go:build pkcs11 && cgo

package pkcs11key_test

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/condatrust/condatrust/internal/synth"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/signer"
)

// BenchmarkSignRepodata signs 300,000 records (conda-forge linux-64's
// size) with a pkg_mgr key in SoftHSM2 and, for comparison in the same
// run, with a key file: records/s is the figure docs/performance.md gives.
//
//	go test -tags pkcs11 -run '^$' -bench SignRepodata -benchtime 1x -count 6 ./signer/pkcs11key/
func BenchmarkSignRepodata(b *testing.B) {
	const n = 300_000
	f, err := repodata.Parse(synth.Repodata(n, ""))
	if err != nil {
		b.Fatal(err)
	}
	pin := token(b, "bench")
	hsmKey, _, err := signer.GeneratePKCS11(uri("bench", "pkg_mgr", pin))
	if err != nil {
		b.Fatal(err)
	}
	defer signer.Close(hsmKey)
	dir := b.TempDir()
	if _, err := signer.GenerateKeyFiles(dir, "pkg_mgr"); err != nil {
		b.Fatal(err)
	}
	fileKey, err := signer.ReadKeyFile(filepath.Join(dir, "pkg_mgr.pri"))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		key  signer.Signer
	}{{"keyfile", fileKey}, {"softhsm2", hsmKey}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := repodata.Sign(io.Discard, f, repodata.SignOptions{Signers: []signer.Signer{c.key}, Compact: true}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkSign is one Ed25519 signature of a record-sized message by the
// token, from one goroutine and from all of them.
func BenchmarkSign(b *testing.B) {
	pin := token(b, "bench")
	k, _, err := signer.GeneratePKCS11(uri("bench", "k", pin))
	if err != nil {
		b.Fatal(err)
	}
	defer signer.Close(k)
	msg := make([]byte, 700)
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := k.Sign(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := k.Sign(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

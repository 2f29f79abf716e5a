package pkgcache_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/condatrust/condatrust/proxy/pkgcache"
	"github.com/condatrust/condatrust/repodata"
)

func Example() {
	dir, err := os.MkdirTemp("", "pkgcache-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	cache, err := pkgcache.Open(pkgcache.Options{Dir: dir, MaxBytes: 1 << 30})
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	// What the verified record says (repodata.Verifier.VerifyPackageRecord
	// gives it as Package.Expect), and where the upstream bytes come from
	// (the proxy wraps its HTTP client).
	body := []byte("the bytes of numpy-2.0.0-py312_0.conda")
	sum := sha256.Sum256(body)
	expect := repodata.Expect{Filename: "numpy-2.0.0-py312_0.conda", Size: int64(len(body)), SHA256: sum[:]}
	fetch := func(ctx context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(body)), nil
	}

	for range 2 {
		entry, err := cache.Get(context.Background(), expect, fetch)
		if err != nil {
			log.Fatal(err) // errors.Is(err, trust.ErrVerification): upstream sent other bytes
		}
		f, err := entry.Open() // serve it, e.g. http.ServeContent(w, r, name, modtime, f)
		if err != nil {
			log.Fatal(err)
		}
		f.Close()
		fmt.Println("hit:", entry.Hit, "size:", entry.Size)
	}
	s := cache.Stats()
	fmt.Println("downloads:", s.Downloads, "entries:", s.Entries)
	// Output:
	// hit: false size: 38
	// hit: true size: 38
	// downloads: 1 entries: 1
}

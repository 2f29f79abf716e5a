package pkgcache

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/condatrust/condatrust/repodata"
)

// BenchmarkGetHit is a warm hit: Get, Open, close.
func BenchmarkGetHit(b *testing.B) {
	c := open(b, Options{Dir: b.TempDir()})
	body, e := pkg(1, 1<<20)
	get(b, c, e, (&fetcher{body: body}).fetch).Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			en, err := c.Get(context.Background(), e, nil)
			if err != nil || !en.Hit {
				b.Fatal(err)
			}
			f, err := en.Open()
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}

// BenchmarkGetMiss downloads a new 1 MiB package from an HTTP upstream at
// each iteration: fetch, hash (sha256 and md5), write, fsync, rename.
func BenchmarkGetMiss(b *testing.B) {
	const size = 1 << 20
	// Package i is 1 MiB of a pattern that starts with i.
	body := func(i int) []byte {
		p := make([]byte, size)
		for j := 0; j < size; j += 8 {
			binary.LittleEndian.PutUint64(p[j:], uint64(i)<<32|uint64(j))
		}
		return p
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Path[1:])
		w.Write(body(i))
	}))
	defer up.Close()
	exps := make([]repodata.Expect, b.N)
	for i := range exps {
		sum := sha256.Sum256(body(i))
		exps[i] = repodata.Expect{Filename: strconv.Itoa(i), Size: size, SHA256: sum[:]}
	}
	c := open(b, Options{Dir: b.TempDir()})
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		url := up.URL + "/" + strconv.Itoa(i)
		en, err := c.Get(context.Background(), exps[i], func(ctx context.Context) (io.ReadCloser, error) {
			req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
			if err != nil {
				return nil, err
			}
			resp, err := up.Client().Do(req)
			if err != nil {
				return nil, err
			}
			return resp.Body, nil
		})
		if err != nil || en.Hit {
			b.Fatal(err)
		}
		en.Close()
	}
}

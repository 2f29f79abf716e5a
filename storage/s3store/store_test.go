package s3store_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"testing"

	"github.com/condatrust/condatrust/storage/s3store"
	"github.com/condatrust/condatrust/storage/s3store/s3test"
	"github.com/condatrust/condatrust/storage/storagetest"
)

func TestS3Conformance(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "channels")
	srv.Bucket(t, "top-of-bucket")
	for _, tc := range []struct {
		name, url string
		small     int64
	}{
		{"whole", "s3://channels/whole/conda-forge", 0},
		{"ranged", "s3://channels/ranged/conda-forge", 1 << 10},
		{"bucket-top", "s3://top-of-bucket", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.Config()
			cfg.SmallObject = tc.small
			st, err := s3store.Open(tc.url, cfg)
			if err != nil {
				t.Fatal(err)
			}
			storagetest.Run(t, st)
		})
	}
}

// TestOpenIfChanged: a conditional read is answered "not modified" while
// the ETag holds, and with the new content once the object is replaced.
func TestOpenIfChanged(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "cond")
	ctx := context.Background()
	st, err := s3store.Open("s3://cond/ch", srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	f, err := s3store.NewFetcher(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	url := "s3://cond/ch/noarch/repodata.json"
	if _, _, err := f.OpenIfChanged(ctx, url, ""); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing object: %v", err)
	}
	if err := st.Put(ctx, "noarch/repodata.json", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	r, nm, err := f.OpenIfChanged(ctx, url, "")
	if err != nil || nm {
		t.Fatalf("unconditional: %v, notModified %v", err, nm)
	}
	etag := r.ETag()
	r.Close()
	if r, nm, err := f.OpenIfChanged(ctx, url, etag); err != nil || !nm || r != nil {
		t.Fatalf("same ETag: reader %v, notModified %v, %v", r, nm, err)
	}
	if err := st.Put(ctx, "noarch/repodata.json", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	r, nm, err = f.OpenIfChanged(ctx, url, etag)
	if err != nil || nm {
		t.Fatalf("after a change: %v, notModified %v", err, nm)
	}
	defer r.Close()
	data, _ := io.ReadAll(r)
	if string(data) != "v2" || r.ETag() == etag {
		t.Errorf("after a change: %q, etag %q (was %q)", data, r.ETag(), etag)
	}
}

// TestEmptyObjectKeepAlive: an empty object is uploaded with a plain
// Content-Length, so the next request on the kept-alive connection is
// understood (minio-go's streaming signature sent it chunked, and
// versitygw answered the next request 400).
func TestEmptyObjectKeepAlive(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "empty")
	st, err := s3store.Open("s3://empty/ch", srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		for _, n := range []int{0, 2} {
			if err := st.Put(context.Background(), "noarch/x", make([]byte, n)); err != nil {
				t.Fatalf("round %d, %d bytes: %v", i, n, err)
			}
		}
	}
}

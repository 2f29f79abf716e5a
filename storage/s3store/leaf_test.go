package s3store_test

import (
	"strings"
	"testing"

	"github.com/condatrust/condatrust/internal/leafcheck"
	"github.com/condatrust/condatrust/storage/s3store"
)

// TestLeaf checks that only the command line links the S3 client: the
// verification path, the indexer, the client and the proxy do not.
func TestLeaf(t *testing.T) {
	leafcheck.Check(t, []string{"canonjson", "trust", "repodata", "index", "client", "proxy", "storage"}, func(dep string) bool {
		return strings.Contains(dep, "minio") || strings.HasSuffix(dep, "/storage/s3store")
	})
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"s3://b/p", "s3://bucket", "s3://bucket/a/b/", "S3://B/x/../y", "s3:///x", "s3://u@b/x?q#f", "http://x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		bucket, prefix, err := s3store.ParseURL(raw)
		if err != nil {
			return
		}
		if bucket == "" || strings.HasPrefix(prefix, "/") || strings.HasSuffix(prefix, "/") {
			t.Fatalf("ParseURL(%q) = %q, %q", raw, bucket, prefix)
		}
		for _, seg := range strings.Split(prefix, "/") {
			if prefix != "" && (seg == "" || seg == "." || seg == "..") {
				t.Fatalf("ParseURL(%q): prefix %q has segment %q", raw, prefix, seg)
			}
		}
		if !s3store.IsURL(raw) {
			t.Fatalf("ParseURL accepted %q, which IsURL refuses", raw)
		}
	})
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct{ in, bucket, prefix, err string }{
		{"s3://conda/main", "conda", "main", ""},
		{"s3://conda/main/", "conda", "main", ""},
		{"s3://conda", "conda", "", ""},
		{"S3://conda/a/b", "conda", "a/b", ""},
		{"s3:///main", "", "", "no bucket"},
		{"s3://conda/a//b", "", "", "empty"},
		{"s3://conda/a/../b", "", "", `".."`},
		{"s3://key:secret@conda/a", "", "", "no credentials"},
		{"https://conda/a", "", "", "not an s3:// URL"},
	} {
		b, p, err := s3store.ParseURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseURL(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || b != tc.bucket || p != tc.prefix {
			t.Errorf("ParseURL(%q) = %q, %q, %v", tc.in, b, p, err)
		}
	}
}

package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLimitBody(t *testing.T) {
	for _, tc := range []struct {
		size, limit int
		tooLarge    bool
	}{
		{0, 0, false}, {10, 10, false}, {9, 10, false}, {11, 10, true}, {1, 0, true}, {100000, 99999, true},
	} {
		data := strings.Repeat("x", tc.size)
		got, err := io.ReadAll(limitBody(strings.NewReader(data), int64(tc.limit), "u"))
		if tc.tooLarge {
			var te *TooLargeError
			if !errors.As(err, &te) || te.Limit != int64(tc.limit) || !errors.Is(err, ErrTooLarge) {
				t.Errorf("%d bytes, limit %d: err %v", tc.size, tc.limit, err)
			}
			if len(got) > tc.limit {
				t.Errorf("%d bytes, limit %d: %d bytes passed", tc.size, tc.limit, len(got))
			}
			continue
		}
		if err != nil || len(got) != tc.size {
			t.Errorf("%d bytes, limit %d: %d bytes, %v", tc.size, tc.limit, len(got), err)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://Conda.Example.COM/main/":       "https://conda.example.com/main",
		"HTTPS://x.example":                     "https://x.example",
		"https://x.example/a/./b/../c//":        "https://x.example/a/c",
		"file:///srv/channel/":                  "file:///srv/channel",
		"file://localhost/srv/my%20channel":     "file:///srv/my%20channel",
		"http://127.0.0.1:8080/ch":              "http://127.0.0.1:8080/ch",
		"  https://x.example/conda-forge  ":     "https://x.example/conda-forge",
		"https://user:secret@x.example/ch":      "",
		"https://x.example/ch?token=1":          "",
		"https://x.example/ch#frag":             "",
		"ftp://x.example/ch":                    "",
		"x.example/ch":                          "",
		"file://otherhost/ch":                   "",
		"file:///":                              "",
		"https:///nohost":                       "",
		"mailto:someone@example.com":            "",
		"https://x.example/ch/t/<TOKEN>/linux":  "https://x.example/ch/t/%3CTOKEN%3E/linux",
		"https://[::1]:8443/ch":                 "https://[::1]:8443/ch",
		"https://x.example/%2e%2e/%2e%2e/etc/x": "https://x.example/etc/x",
	} {
		got, err := NormalizeURL(in)
		if want == "" {
			if err == nil {
				t.Errorf("NormalizeURL(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestFileFetcher(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a b.json"), []byte("hello"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	base, err := FileURL(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rc, err := FileFetcher{}.Fetch(ctx, base+"/a%20b.json")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if string(data) != "hello" {
		t.Errorf("read %q", data)
	}
	if _, err := (FileFetcher{}).Fetch(ctx, base+"/missing.json"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := (FileFetcher{}).Fetch(ctx, base+"/sub"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("directory: %v", err)
	}
	if _, err := (FileFetcher{}).Fetch(ctx, "file://host.example/x"); err == nil {
		t.Error("a file URL on another host was read")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := (FileFetcher{}).Fetch(cctx, base+"/a%20b.json"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestHTTPFetcher(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" {
			t.Error("credentials sent")
		}
		w.Write([]byte("fine"))
	})
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) })
	mux.HandleFunc("/forbidden", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) })
	mux.HandleFunc("/compress", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "compress")
		w.Write([]byte{0x1f, 0x9d})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	f := NewHTTPFetcher(HTTPOptions{Timeout: 2 * time.Second, IdleTimeout: 2 * time.Second})
	ctx := context.Background()
	rc, err := f.Fetch(ctx, srv.URL+"/ok")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if string(data) != "fine" {
		t.Errorf("read %q", data)
	}
	for _, p := range []string{"/gone", "/missing"} {
		if _, err := f.Fetch(ctx, srv.URL+p); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v", p, err)
		}
	}
	var he *HTTPError
	if _, err := f.Fetch(ctx, srv.URL+"/forbidden"); !errors.As(err, &he) || he.StatusCode != 403 || errors.Is(err, ErrNotFound) {
		t.Errorf("403: %v", err)
	}
	if _, err := f.Fetch(ctx, srv.URL+"/compress"); err == nil || !strings.Contains(err.Error(), `unsupported Content-Encoding "compress"`) {
		t.Errorf("compress: %v", err)
	}
}

func TestHTTPSRedirectToHTTPRefused(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("downgraded")) }))
	defer plain.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/x", http.StatusFound)
	}))
	defer tls.Close()
	f := NewHTTPFetcher(HTTPOptions{Timeout: 2 * time.Second})
	f.client.Transport.(*http.Transport).TLSClientConfig = tls.Client().Transport.(*http.Transport).TLSClientConfig
	_, err := f.Fetch(context.Background(), tls.URL+"/key_mgr.json")
	if err == nil || !strings.Contains(err.Error(), "refusing a redirect from https") {
		t.Errorf("https -> http redirect: %v", err)
	}
}

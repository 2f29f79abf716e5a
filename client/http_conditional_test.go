package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFetchConditional(t *testing.T) {
	const etag, lm = `"v1"`, "Mon, 02 Jan 2006 15:04:05 GMT"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == etag || r.Header.Get("If-Modified-Since") == lm || r.URL.Path == "/always304" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", lm)
		w.Write([]byte("body"))
	}))
	defer srv.Close()
	f := NewUpstreamFetcher(HTTPOptions{Timeout: 2 * time.Second}, UpstreamOptions{})
	ctx := context.Background()
	body, v, nm, err := f.FetchConditional(ctx, srv.URL+"/x", Validators{})
	if err != nil || nm {
		t.Fatalf("unconditional: %v %v", nm, err)
	}
	data, _ := io.ReadAll(body)
	body.Close()
	if string(data) != "body" || v != (Validators{ETag: etag, LastModified: lm}) {
		t.Errorf("got %q %+v", data, v)
	}
	for _, sent := range []Validators{{ETag: etag}, {LastModified: lm}} {
		body, got, nm, err := f.FetchConditional(ctx, srv.URL+"/x", sent)
		if err != nil || !nm || body != nil || got != sent {
			t.Errorf("conditional %+v: body %v, %+v, notModified %v, %v", sent, body, got, nm, err)
		}
	}
	// A 304 to an unconditional request is an error, as for Fetch.
	var he *HTTPError
	if _, _, _, err := f.FetchConditional(ctx, srv.URL+"/always304", Validators{}); !errors.As(err, &he) || he.StatusCode != 304 {
		t.Errorf("unconditional 304: %v", err)
	}
}

func TestUpstreamFetcherRedirects(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("other")) }))
	defer other.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, other.URL+"/x", http.StatusFound) })
	mux.HandleFunc("/here", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()
	read := func(f *HTTPFetcher, u string) (string, error) {
		rc, err := f.Fetch(ctx, u)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	opts := HTTPOptions{Timeout: 2 * time.Second}
	// NewHTTPFetcher follows a redirect to any host.
	if got, err := read(NewHTTPFetcher(opts), srv.URL+"/away"); err != nil || got != "other" {
		t.Errorf("NewHTTPFetcher, other host: %q %v", got, err)
	}
	up := NewUpstreamFetcher(opts, UpstreamOptions{})
	if got, err := read(up, srv.URL+"/here"); err != nil || got != "ok" {
		t.Errorf("same host: %q %v", got, err)
	}
	var re *RedirectError
	if _, err := read(up, srv.URL+"/away"); !errors.As(err, &re) || !strings.Contains(re.Reason, "another host") || re.Target != other.URL+"/x" {
		t.Errorf("other host: %v", err)
	}
	otherHost := strings.TrimPrefix(other.URL, "http://")
	allowed := NewUpstreamFetcher(opts, UpstreamOptions{RedirectHosts: []string{strings.ToUpper(otherHost)}})
	if got, err := read(allowed, srv.URL+"/away"); err != nil || got != "other" {
		t.Errorf("allowed host: %q %v", got, err)
	}
}

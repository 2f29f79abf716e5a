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

	"github.com/condatrust/condatrust/trust"
)

// dripServer serves, at /drip, a body that never ends: one byte every
// 20 ms, each flushed, so the idle timeout never fires. At /late it waits
// 2 s before sending headers. Handlers return when the test ends.
func dripServer(t *testing.T) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/drip", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-r.Context().Done():
				return
			case <-tick.C:
				if _, err := w.Write([]byte{'x'}); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}
	})
	mux.HandleFunc("/late", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-done:
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
			w.Write([]byte("late"))
		}
	})
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("fast")) })
	srv := httptest.NewServer(mux)
	// Cleanups run last-in first-out: release the handlers, then close.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) })
	return srv
}

// readWithGuard reads the whole body, giving up after guard so that a
// missing deadline fails the test instead of hanging it.
func readWithGuard(t *testing.T, rc io.ReadCloser, guard time.Duration) (int, error) {
	t.Helper()
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		n, err := io.Copy(io.Discard, rc)
		ch <- result{int(n), err}
	}()
	select {
	case r := <-ch:
		return r.n, r.err
	case <-time.After(guard):
		rc.Close()
		<-ch
		t.Fatalf("body still being read after %v: no overall deadline", guard)
		return 0, nil
	}
}

func checkDeadline(t *testing.T, err error, url string, limit time.Duration) {
	t.Helper()
	var de *DeadlineError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want a *DeadlineError", err, err)
	}
	if de.URL != url || de.Limit != limit {
		t.Errorf("DeadlineError{URL: %q, Limit: %v}, want {%q, %v}", de.URL, de.Limit, url, limit)
	}
	if !errors.Is(err, ErrDeadline) {
		t.Errorf("%v does not match ErrDeadline", err)
	}
	if errors.Is(err, ErrStalled) || errors.Is(err, trust.ErrVerification) || errors.Is(err, context.Canceled) {
		t.Errorf("%v matches ErrStalled, trust.ErrVerification or context.Canceled", err)
	}
	want := url + ": no complete response within " + limit.String()
	if !strings.Contains(err.Error(), want) {
		t.Errorf("message %q does not contain %q", err.Error(), want)
	}
}

// TestHTTPTotalTimeoutDrippingBody: a server that keeps sending one byte
// every 20 ms never trips the idle timeout, but the request as a whole
// ends at TotalTimeout with a *DeadlineError.
func TestHTTPTotalTimeoutDrippingBody(t *testing.T) {
	srv := dripServer(t)
	const total = 300 * time.Millisecond
	f := NewHTTPFetcher(HTTPOptions{Timeout: 5 * time.Second, IdleTimeout: 5 * time.Second, TotalTimeout: total})
	start := time.Now()
	rc, err := f.Fetch(context.Background(), srv.URL+"/drip")
	if err != nil {
		t.Fatal(err)
	}
	n, err := readWithGuard(t, rc, 5*time.Second)
	rc.Close()
	if d := time.Since(start); d < total || d > 1500*time.Millisecond {
		t.Errorf("gave up after %v, want about %v", d, total)
	}
	if n == 0 {
		t.Errorf("no byte read before the deadline: the drip did not run")
	}
	checkDeadline(t, err, srv.URL+"/drip", total)
}

// TestHTTPTotalTimeoutThroughClient: readAllLimited, the client's way of
// reading metadata, passes the error on unchanged in class.
func TestHTTPTotalTimeoutThroughClient(t *testing.T) {
	srv := dripServer(t)
	const total = 300 * time.Millisecond
	f := NewFetcher(HTTPOptions{Timeout: 5 * time.Second, IdleTimeout: 5 * time.Second, TotalTimeout: total})
	ch := make(chan error, 1)
	go func() {
		_, err := readAllLimited(context.Background(), f, srv.URL+"/drip", 1<<20)
		ch <- err
	}()
	select {
	case err := <-ch:
		checkDeadline(t, err, srv.URL+"/drip", total)
	case <-time.After(5 * time.Second):
		t.Fatal("readAllLimited still reading after 5s: no overall deadline")
	}
}

// TestHTTPTotalTimeoutBeforeHeaders: the deadline also covers the wait for
// the response headers, when it is shorter than Timeout.
func TestHTTPTotalTimeoutBeforeHeaders(t *testing.T) {
	srv := dripServer(t)
	const total = 300 * time.Millisecond
	f := NewHTTPFetcher(HTTPOptions{Timeout: 5 * time.Second, IdleTimeout: 5 * time.Second, TotalTimeout: total})
	start := time.Now()
	rc, err := f.Fetch(context.Background(), srv.URL+"/late")
	if err == nil {
		rc.Close()
		t.Fatalf("fetch succeeded after %v", time.Since(start))
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("gave up after %v, want about %v", d, total)
	}
	checkDeadline(t, err, srv.URL+"/late", total)
}

// TestHTTPTotalTimeoutNotHit: a response that completes in time is read
// whole, and the deadline's timer does not outlive the body.
func TestHTTPTotalTimeoutNotHit(t *testing.T) {
	srv := dripServer(t)
	f := NewHTTPFetcher(HTTPOptions{TotalTimeout: 2 * time.Second})
	rc, err := f.Fetch(context.Background(), srv.URL+"/fast")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(data) != "fast" {
		t.Errorf("read %q, %v", data, err)
	}
}

// TestHTTPTotalTimeoutDefault: zero takes the documented default.
func TestHTTPTotalTimeoutDefault(t *testing.T) {
	if f := NewHTTPFetcher(HTTPOptions{}); f.total != DefaultTotalTimeout {
		t.Errorf("default total timeout %v, want %v", f.total, DefaultTotalTimeout)
	}
	if DefaultTotalTimeout != 30*time.Minute {
		t.Errorf("DefaultTotalTimeout = %v, documented as 30m", DefaultTotalTimeout)
	}
}

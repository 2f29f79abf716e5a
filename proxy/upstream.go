package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/trust"
)

// upstream reaches the channels: the proxy's own HTTP client (conditional
// requests, redirects only within the upstream's host), client.FileFetcher
// for file:// URLs, or an injected client.Fetcher. Errors are the client's
// ([client.NotFoundError], [client.HTTPError], [client.ErrStalled],
// [client.DeadlineError], [client.UnreachableError]) so that
// [client.Client.Update] treats them exactly as it treats its own.
type upstream struct {
	http   *http.Client
	idle   time.Duration
	total  time.Duration
	inject client.Fetcher
}

// validators are an upstream response's cache validators.
type validators struct {
	etag, lastModified string
}

// response is one upstream answer: a body, or notModified.
type response struct {
	body        io.ReadCloser
	v           validators
	notModified bool
}

// RedirectError reports an upstream redirect that was not followed: to
// another host than the upstream's (and not in
// [Config.AllowRedirectHosts]), from https to http, or past 10 redirects.
type RedirectError struct {
	URL    string // the request
	Target string // where it was redirected
	Reason string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("%s: redirect to %s not followed: %s", e.URL, e.Target, e.Reason)
}

func newUpstream(cfg *Config) *upstream {
	allowed := map[string]bool{}
	for _, h := range cfg.AllowRedirectHosts {
		allowed[strings.ToLower(h)] = true
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   cfg.MaxConcurrentDownloads + 4,
		ForceAttemptHTTP2:     true,
	}
	hc := &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			first := via[0].URL
			fail := func(why string) error {
				return &RedirectError{URL: first.Redacted(), Target: req.URL.Redacted(), Reason: why}
			}
			switch {
			case len(via) >= 10:
				return fail("more than 10 redirects")
			case first.Scheme == "https" && req.URL.Scheme != "https":
				return fail("from https to " + req.URL.Scheme)
			case !strings.EqualFold(req.URL.Host, first.Host) && !allowed[strings.ToLower(req.URL.Host)] &&
				!allowed[strings.ToLower(req.URL.Hostname())]:
				return fail("another host than the upstream's (allow it with AllowRedirectHosts)")
			}
			return nil
		},
	}
	return &upstream{http: hc, idle: cfg.Timeout, total: cfg.Deadline, inject: cfg.Fetcher}
}

// Fetch implements client.Fetcher, for the trust updates and packages.
func (u *upstream) Fetch(ctx context.Context, rawURL string) (io.ReadCloser, error) {
	r, err := u.get(ctx, rawURL, validators{})
	if err != nil {
		return nil, err
	}
	return r.body, nil
}

// get fetches rawURL, conditionally when v has validators.
func (u *upstream) get(ctx context.Context, rawURL string, v validators) (response, error) {
	switch {
	case u.inject != nil:
		body, err := u.inject.Fetch(ctx, rawURL)
		return response{body: body}, err
	case strings.HasPrefix(rawURL, "file:"):
		body, err := client.FileFetcher{}.Fetch(ctx, rawURL)
		return response{body: body}, err
	}
	ctx, stop := context.WithTimeoutCause(ctx, u.total, errTotal)
	ctx, cancel := context.WithCancelCause(ctx)
	release := func() { cancel(nil); stop() }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		release()
		return response{}, err
	}
	req.Header.Set("User-Agent", "conda-trust-proxy")
	if v.etag != "" {
		req.Header.Set("If-None-Match", v.etag)
	}
	if v.lastModified != "" {
		req.Header.Set("If-Modified-Since", v.lastModified)
	}
	resp, err := u.http.Do(req)
	if err != nil {
		overdue := errors.Is(context.Cause(ctx), errTotal)
		release()
		var re *RedirectError
		var ne net.Error
		var oe *net.OpError
		switch {
		case errors.As(err, &re):
			return response{}, re
		case overdue:
			return response{}, &client.DeadlineError{URL: rawURL, Limit: u.total}
		case errors.As(err, &ne) && ne.Timeout():
			return response{}, fmt.Errorf("%s: %w: no response: %v", rawURL, client.ErrStalled, err)
		case errors.As(err, &oe) && oe.Op == "dial":
			return response{}, &client.UnreachableError{URL: rawURL, Reason: oe.Err.Error(), Err: err}
		}
		return response{}, err
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && (v.etag != "" || v.lastModified != ""):
		resp.Body.Close()
		release()
		return response{v: v, notModified: true}, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		resp.Body.Close()
		release()
		return response{}, &client.NotFoundError{URL: rawURL}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		resp.Body.Close()
		release()
		return response{}, &client.HTTPError{URL: rawURL, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	body := &idleBody{r: resp.Body, url: rawURL, idle: u.idle, total: u.total, ctx: ctx, release: release}
	body.timer = time.AfterFunc(time.Hour, func() { cancel(errIdle) })
	body.timer.Stop()
	return response{body: body, v: validators{etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified")}}, nil
}

var (
	errIdle  = errors.New("idle timeout")
	errTotal = errors.New("total timeout")
)

// idleBody cancels the request when one Read waits longer than idle, as
// the client's HTTP fetcher does, and reports the overall deadline.
type idleBody struct {
	r       io.ReadCloser
	url     string
	idle    time.Duration
	total   time.Duration
	ctx     context.Context
	release func()
	timer   *time.Timer
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.idle)
	n, err := b.r.Read(p)
	b.timer.Stop()
	if err != nil && err != io.EOF {
		switch cause := context.Cause(b.ctx); {
		case errors.Is(cause, errTotal):
			err = &client.DeadlineError{URL: b.url, Limit: b.total}
		case errors.Is(cause, errIdle):
			err = fmt.Errorf("%s: %w: no data for %v", b.url, client.ErrStalled, b.idle)
		default:
			err = fmt.Errorf("reading %s: %w", b.url, err)
		}
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.r.Close()
	b.release()
	return err
}

// upstreamErrorKind names an upstream failure for metrics and logs.
func upstreamErrorKind(err error) string {
	var he *client.HTTPError
	var re *RedirectError
	switch {
	case errors.Is(err, client.ErrNotFound):
		return "not-found"
	case errors.Is(err, client.ErrStalled), errors.Is(err, client.ErrDeadline), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, client.ErrTooLarge):
		return "too-large"
	case errors.As(err, &he):
		if he.StatusCode >= 500 {
			return "http-5xx"
		}
		return "http-status"
	case errors.As(err, &re):
		return "redirect"
	case errors.Is(err, client.ErrUnreachable):
		return "unreachable"
	case errors.Is(err, trust.ErrMalformed):
		return "malformed"
	}
	return "network"
}

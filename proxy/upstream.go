package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/trust"
)

// upstream reaches the channels: the client's HTTP fetcher
// ([client.NewUpstreamFetcher]: conditional requests, redirects only within
// the upstream's host or to [Config.AllowRedirectHosts]),
// client.FileFetcher for file:// URLs, [Config.Schemes] for other
// schemes (s3://), or an injected client.Fetcher.
// Errors are the client's ([client.NotFoundError], [client.HTTPError],
// [client.ErrStalled], [client.DeadlineError], [client.UnreachableError],
// [client.RedirectError]) so that [client.Client.Update] treats them
// exactly as it treats its own.
type upstream struct {
	http    *client.HTTPFetcher
	inject  client.Fetcher
	schemes map[string]client.Fetcher
}

// conditionalFetcher is a Fetcher of [Config.Schemes] that can answer
// "not modified" ([client.ObjectFetcher] for s3://).
type conditionalFetcher interface {
	FetchConditional(ctx context.Context, url string, v client.Validators) (io.ReadCloser, client.Validators, bool, error)
}

// validators are an upstream response's cache validators.
type validators = client.Validators

// response is one upstream answer: a body, or notModified.
type response struct {
	body        io.ReadCloser
	v           validators
	notModified bool
}

// RedirectError reports an upstream redirect that was not followed: to
// another host than the upstream's (and not in
// [Config.AllowRedirectHosts]), from https to http, or past 10 redirects.
type RedirectError = client.RedirectError

func newUpstream(cfg *Config) *upstream {
	hf := client.NewUpstreamFetcher(
		client.HTTPOptions{Timeout: cfg.Timeout, IdleTimeout: cfg.Timeout, TotalTimeout: cfg.Deadline, UserAgent: "conda-trust-proxy"},
		client.UpstreamOptions{RedirectHosts: cfg.AllowRedirectHosts, MaxIdleConnsPerHost: cfg.MaxConcurrentDownloads + 4})
	return &upstream{http: hf, inject: cfg.Fetcher, schemes: cfg.Schemes}
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
	if scheme, _, ok := strings.Cut(rawURL, "://"); ok && u.schemes[strings.ToLower(scheme)] != nil {
		f := u.schemes[strings.ToLower(scheme)]
		if cf, ok := f.(conditionalFetcher); ok {
			body, cur, notModified, err := cf.FetchConditional(ctx, rawURL, v)
			if err != nil || notModified {
				return response{v: cur, notModified: notModified}, err
			}
			return response{body: namedBody{body, rawURL}, v: cur}, nil
		}
		body, err := f.Fetch(ctx, rawURL)
		if err != nil {
			return response{}, err
		}
		return response{body: namedBody{body, rawURL}}, nil
	}
	body, cur, notModified, err := u.http.FetchConditional(ctx, rawURL, v)
	if err != nil || notModified {
		return response{v: cur, notModified: notModified}, err
	}
	return response{body: namedBody{body, rawURL}, v: cur}, nil
}

// namedBody names the URL in the read errors the fetcher leaves as they
// are (a reset connection), so that the proxy's one-line answer says
// what was being read.
type namedBody struct {
	io.ReadCloser
	url string
}

func (b namedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && !errors.Is(err, client.ErrStalled) && !errors.Is(err, client.ErrDeadline) {
		err = fmt.Errorf("reading %s: %w", b.url, err)
	}
	return n, err
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

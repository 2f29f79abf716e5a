package client

import (
	"context"
	"fmt"
	"io"
)

// Validators are the cache validators of an HTTP response: its ETag and
// Last-Modified headers, either of which may be empty.
type Validators struct {
	ETag         string
	LastModified string
}

// RedirectError reports a redirect an [HTTPFetcher] did not follow: from
// https to http, past 10 redirects, or, for a fetcher from
// [NewUpstreamFetcher], to a host other than the requested URL's and not
// in [UpstreamOptions.RedirectHosts].
type RedirectError struct {
	URL    string // the request (credentials redacted)
	Target string // where it was redirected (credentials redacted)
	Reason string // why it was not followed
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("refusing a redirect from %s to %s: %s", e.URL, e.Target, e.Reason)
}

// UpstreamOptions are the settings, beyond [HTTPOptions], of a fetcher
// that fetches from known upstreams on behalf of many clients, as the
// verifying proxy does. Zero values take the defaults.
type UpstreamOptions struct {
	// RedirectHosts lists the hosts (host or host:port, any case) a
	// redirect may lead to besides the requested URL's own host.
	RedirectHosts []string
	// MaxIdleConnsPerHost is how many connections to one host are kept
	// open between requests. Default 4, as for [NewHTTPFetcher].
	MaxIdleConnsPerHost int
}

// NewUpstreamFetcher returns an HTTPFetcher like [NewHTTPFetcher]'s,
// except that it follows a redirect only within the requested URL's host
// or to one of up.RedirectHosts; any other is refused with a
// [*RedirectError].
func NewUpstreamFetcher(opts HTTPOptions, up UpstreamOptions) *HTTPFetcher {
	return newHTTPFetcher(opts, up, true)
}

// FetchConditional fetches rawURL as [HTTPFetcher.Fetch] does (same
// timeouts, decoding, redirect policy and errors), sending v's validators
// as If-None-Match and If-Modified-Since. When the server answers
// 304 Not Modified to such a conditional request, it returns no body,
// notModified true and v itself. Otherwise it returns the body, which the
// caller must close, and the response's validators (current), for the
// next request. Without validators in v the request is unconditional, and
// a 304 answer is an [*HTTPError] as for Fetch.
func (h *HTTPFetcher) FetchConditional(ctx context.Context, rawURL string, v Validators) (body io.ReadCloser, current Validators, notModified bool, err error) {
	return h.get(ctx, rawURL, v)
}

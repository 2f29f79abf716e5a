package client

import (
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// AcceptEncoding is the Accept-Encoding header conda sends for trust
// metadata (content-trust spec §10.2). gzip and deflate bodies are decoded;
// a server answering with "compress" gets an error, since no Go decoder for
// it exists and no real server uses it.
const AcceptEncoding = "gzip, deflate, compress, identity"

// HTTPFetcher fetches http:// and https:// URLs. It sends no credentials,
// follows at most 10 redirects and never one from https to http (a
// refused redirect is a [*RedirectError]), bounds
// connecting and waiting for headers by [HTTPOptions.Timeout], every
// wait for body bytes by [HTTPOptions.IdleTimeout], and the whole request,
// from connecting to the last body byte, by [HTTPOptions.TotalTimeout].
type HTTPFetcher struct {
	client *http.Client
	idle   time.Duration
	total  time.Duration
	agent  string
}

// DefaultTotalTimeout is the default [HTTPOptions.TotalTimeout]. The
// largest body the client accepts is 1 GiB ([DefaultMaxRepodataSize], and
// packages of that size exist); 30 minutes lets it arrive at about
// 600 KB/s (5 Mbit/s), a slow but usable link, while still ending, within
// half an hour, a server that drips bytes just fast enough to beat the
// idle timeout. Users on slower links raise it.
const DefaultTotalTimeout = 30 * time.Minute

// NewHTTPFetcher returns an HTTPFetcher. It follows redirects to any host
// (but never from https to http); [NewUpstreamFetcher] returns one whose
// redirects stay on the requested host.
func NewHTTPFetcher(opts HTTPOptions) *HTTPFetcher {
	return newHTTPFetcher(opts, UpstreamOptions{}, false)
}

// newHTTPFetcher builds the fetcher of [NewHTTPFetcher] and
// [NewUpstreamFetcher]: with sameHost, a redirect may lead only to the
// requested URL's host or to up.RedirectHosts.
func newHTTPFetcher(opts HTTPOptions, up UpstreamOptions, sameHost bool) *HTTPFetcher {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Second
	}
	if opts.TotalTimeout <= 0 {
		opts.TotalTimeout = DefaultTotalTimeout
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "conda-trust"
	}
	if up.MaxIdleConnsPerHost <= 0 {
		up.MaxIdleConnsPerHost = 4
	}
	allowed := map[string]bool{}
	for _, h := range up.RedirectHosts {
		allowed[strings.ToLower(h)] = true
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   up.MaxIdleConnsPerHost,
		ForceAttemptHTTP2:     true,
		// We send conda's Accept-Encoding and decode ourselves, so that
		// the size limits apply to the decoded bytes.
		DisableCompression: true,
	}
	c := &http.Client{
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
			case sameHost && !strings.EqualFold(req.URL.Host, first.Host) &&
				!allowed[strings.ToLower(req.URL.Host)] && !allowed[strings.ToLower(req.URL.Hostname())]:
				return fail("to another host than the requested URL's, not one of the allowed redirect hosts")
			}
			return nil
		},
	}
	return &HTTPFetcher{client: c, idle: opts.IdleTimeout, total: opts.TotalTimeout, agent: opts.UserAgent}
}

// Fetch implements [Fetcher].
func (h *HTTPFetcher) Fetch(ctx context.Context, rawURL string) (io.ReadCloser, error) {
	body, _, _, err := h.get(ctx, rawURL, Validators{})
	return body, err
}

// get fetches rawURL, conditionally when v holds a validator; see
// [HTTPFetcher.FetchConditional].
func (h *HTTPFetcher) get(ctx context.Context, rawURL string, v Validators) (io.ReadCloser, Validators, bool, error) {
	// Two causes can end the request early: the overall deadline, which
	// runs from here to Close, and the idle timer of idleReader.
	ctx, stop := context.WithTimeoutCause(ctx, h.total, errTotal)
	ctx, cancel := context.WithCancelCause(ctx)
	release := func() { cancel(nil); stop() }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		release()
		return nil, Validators{}, false, err
	}
	req.Header.Set("Accept-Encoding", AcceptEncoding)
	req.Header.Set("User-Agent", h.agent)
	if v.ETag != "" {
		req.Header.Set("If-None-Match", v.ETag)
	}
	if v.LastModified != "" {
		req.Header.Set("If-Modified-Since", v.LastModified)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		overdue := errors.Is(context.Cause(ctx), errTotal)
		release()
		var re *RedirectError
		var ne net.Error
		switch {
		case errors.As(err, &re):
			return nil, Validators{}, false, re
		case overdue:
			return nil, Validators{}, false, &DeadlineError{URL: rawURL, Limit: h.total}
		case errors.As(err, &ne) && ne.Timeout():
			return nil, Validators{}, false, fmt.Errorf("%s: %w: no response: %v", rawURL, ErrStalled, err)
		}
		if reason := unreachable(err); reason != "" {
			return nil, Validators{}, false, &UnreachableError{URL: rawURL, Reason: reason, Err: err}
		}
		return nil, Validators{}, false, err
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && (v.ETag != "" || v.LastModified != ""):
		resp.Body.Close()
		release()
		return nil, v, true, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		resp.Body.Close()
		release()
		return nil, Validators{}, false, &NotFoundError{URL: rawURL}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		resp.Body.Close()
		release()
		return nil, Validators{}, false, &HTTPError{URL: rawURL, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	got := Validators{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	raw := &idleReader{r: resp.Body, url: rawURL, idle: h.idle, total: h.total, ctx: ctx, release: release}
	raw.timer = time.AfterFunc(time.Hour, func() { cancel(errIdle) })
	raw.timer.Stop()
	body := &decodedBody{raw: raw}
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		body.r = raw
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(raw)
		if err != nil {
			raw.Close()
			return nil, Validators{}, false, fmt.Errorf("%s: gzip body: %w", rawURL, err)
		}
		body.r, body.dec = zr, zr
	case "deflate":
		zr, err := zlib.NewReader(raw)
		if err != nil {
			raw.Close()
			return nil, Validators{}, false, fmt.Errorf("%s: deflate body: %w", rawURL, err)
		}
		body.r, body.dec = zr, zr
	default:
		raw.Close()
		return nil, Validators{}, false, fmt.Errorf("%s: unsupported Content-Encoding %q", rawURL, enc)
	}
	return body, got, false, nil
}

var (
	errIdle  = errors.New("idle timeout")
	errTotal = errors.New("total timeout")
)

// idleReader cancels the request when one Read waits longer than idle.
// The clock runs only while a Read is blocked, so a slow consumer is not
// mistaken for a stalled server. It also reports the request's overall
// deadline (total), which runs whether or not a Read is blocked.
type idleReader struct {
	r       io.ReadCloser
	url     string
	idle    time.Duration
	total   time.Duration
	ctx     context.Context
	release func() // cancels the request and stops the deadline
	timer   *time.Timer
}

func (r *idleReader) Read(p []byte) (int, error) {
	r.timer.Reset(r.idle)
	n, err := r.r.Read(p)
	r.timer.Stop()
	if err != nil && err != io.EOF {
		switch cause := context.Cause(r.ctx); {
		case errors.Is(cause, errTotal):
			err = &DeadlineError{URL: r.url, Limit: r.total}
		case errors.Is(cause, errIdle):
			err = fmt.Errorf("%s: %w: no data for %v", r.url, ErrStalled, r.idle)
		}
	}
	return n, err
}

func (r *idleReader) Close() error {
	r.timer.Stop()
	err := r.r.Close()
	r.release()
	return err
}

type decodedBody struct {
	r   io.Reader
	dec io.Closer
	raw io.Closer
}

func (b *decodedBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *decodedBody) Close() error {
	if b.dec != nil {
		b.dec.Close()
	}
	return b.raw.Close()
}

// unreachable says in words why no connection was made, or "" when err is
// not a connection failure (a cancelled context, a refused redirect).
func unreachable(err error) string {
	var dns *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var tlsVerify *tls.CertificateVerificationError
	switch {
	case errors.Is(err, context.Canceled):
		return ""
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return fmt.Sprintf("the host name %q does not resolve", dns.Name)
		}
		return fmt.Sprintf("the host name %q could not be looked up (no DNS answer)", dns.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (nothing listens at that address and port)"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "the network or host is unreachable"
	case errors.Is(err, syscall.ECONNRESET):
		return "the server closed the connection"
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &tlsVerify):
		return "its TLS certificate is not trusted by this machine"
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return fmt.Sprintf("the connection failed (%v)", op.Err)
	}
	return ""
}

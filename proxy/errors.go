package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/trust"
)

// httpError is an answer decided by the proxy itself.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func notFound(format string, args ...any) error {
	return &httpError{status: http.StatusNotFound, msg: fmt.Sprintf(format, args...)}
}

// statusOf maps an error to the status a client gets:
//
//	404 not served here, not in the verified repodata (not-listed), or not upstream
//	403 the package's record is in the upstream repodata but was refused
//	502 the upstream answered something that did not verify (trust metadata,
//	    refuse mode, package bytes) or failed (HTTP error, reset, too large,
//	    redirect), with no verified copy to serve
//	504 the upstream did not answer in time (stall, deadline)
func statusOf(err error) int {
	var he *httpError
	var rr *recordRefusedError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.As(err, &rr):
		return http.StatusForbidden
	case client.RuleOf(err) == trust.RuleNotListed, errors.Is(err, client.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, trust.ErrVerification):
		return http.StatusBadGateway
	case errors.Is(err, client.ErrStalled), errors.Is(err, client.ErrDeadline), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// fail answers with the status of err and a one-line reason. A refusal
// names its rule in the X-Conda-Trust-Rule header and the body.
func (s *Server) fail(w *respWriter, c *channel, err error) {
	status := statusOf(err)
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if rule := client.RuleOf(err); rule != "" {
		w.Header().Set("X-Conda-Trust-Rule", string(rule))
		msg = "refused (" + string(rule) + "): " + msg
	}
	h := w.Header()
	for _, k := range []string{"ETag", "Last-Modified", "Cache-Control", "Content-Encoding"} {
		h.Del(k)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte("conda-trust proxy: " + msg + "\n"))
}

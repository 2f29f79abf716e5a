package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/condatrust/condatrust/trust"
)

// Sentinels for the operational errors callers branch on. None of them
// matches [trust.ErrVerification]: a missing file, an oversized or stalled
// response, or a channel nobody pinned says nothing about whether what was
// served is trustworthy.
var (
	// ErrNotFound means the server (or the file system) has no such file.
	// It ends a root walk; anywhere else it is an error.
	ErrNotFound = errors.New("not found")
	// ErrTooLarge means a response was larger than the limit for its kind.
	ErrTooLarge = errors.New("response too large")
	// ErrStalled means a server sent nothing for longer than the idle
	// timeout.
	ErrStalled = errors.New("server stalled")
	// ErrNotPinned means the trust store holds no root for the channel.
	ErrNotPinned = errors.New("channel not pinned")
	// ErrTooManyRoots means the root walk reached [Limits.MaxRootUpdates].
	ErrTooManyRoots = errors.New("too many root updates")
	// ErrDeadline means a request took longer than its overall deadline
	// ([HTTPOptions.TotalTimeout]), however steadily the server was
	// sending; see [DeadlineError].
	ErrDeadline = errors.New("request deadline exceeded")
	// ErrUnreachable means no connection to the server could be made:
	// its name does not resolve, nothing listens, the network is down, or
	// its TLS certificate is not trusted; see [UnreachableError].
	ErrUnreachable = errors.New("server unreachable")
)

// UnreachableError reports a request that got no answer because the server
// could not be reached. Reason says why in words; Err is the network error.
// It matches [ErrUnreachable].
type UnreachableError struct {
	URL    string
	Reason string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s: %s", e.URL, e.Reason)
}

// Is makes the error match [ErrUnreachable]; Unwrap gives the network error.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }
func (e *UnreachableError) Unwrap() error        { return e.Err }

// NotFoundError reports a URL with nothing behind it (HTTP 404 or 410, or
// a missing file). It matches [ErrNotFound].
type NotFoundError struct {
	URL string
}

func (e *NotFoundError) Error() string { return e.URL + ": not found" }

// Unwrap makes the error match [ErrNotFound].
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// TooLargeError reports a response cut off at its limit. It matches
// [ErrTooLarge].
type TooLargeError struct {
	URL   string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: response larger than the limit of %d bytes", e.URL, e.Limit)
}

// Unwrap makes the error match [ErrTooLarge].
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// DeadlineError reports a request cut off at its overall deadline: the
// connection, the headers and the whole body together took longer than
// Limit. It matches [ErrDeadline] and not [trust.ErrVerification].
type DeadlineError struct {
	URL   string
	Limit time.Duration
}

func (e *DeadlineError) Error() string {
	return fmt.Sprintf("%s: no complete response within %v", e.URL, e.Limit)
}

// Unwrap makes the error match [ErrDeadline].
func (e *DeadlineError) Unwrap() error { return ErrDeadline }

// HTTPError reports an HTTP status other than success and not-found.
type HTTPError struct {
	URL        string
	StatusCode int
	Status     string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("%s: HTTP %s", e.URL, e.Status) }

// LegacySignatureError is a refusal by the legacy `conda sign` verifier
// (package legacysign). It matches both [trust.ErrVerification] and the
// legacysign reason it wraps (ErrInvalidSignature, ErrSignatureMissing,
// ErrKeyNotInstalled, ErrKeyNotPinned, ErrMalformedSig).
type LegacySignatureError struct {
	File string // the package file name
	Err  error  // the legacysign refusal
}

func (e *LegacySignatureError) Error() string {
	return fmt.Sprintf("%s: legacy conda sign signature refused: %v", e.File, e.Err)
}

// Unwrap returns the verification sentinel and the legacysign reason.
func (e *LegacySignatureError) Unwrap() []error { return []error{trust.ErrVerification, e.Err} }

// RuleOf returns the rule a refusal names: the Rule of a
// [*trust.VerificationError], [trust.RuleLegacySignature] for a
// [*LegacySignatureError], and "" for errors that are not refusals.
func RuleOf(err error) trust.Rule {
	var ve *trust.VerificationError
	if errors.As(err, &ve) {
		return ve.Rule
	}
	var le *LegacySignatureError
	if errors.As(err, &le) {
		return trust.RuleLegacySignature
	}
	return ""
}

func refusal(role string, rule trust.Rule, format string, args ...any) error {
	return &trust.VerificationError{Role: role, Rule: rule, Detail: fmt.Sprintf(format, args...)}
}

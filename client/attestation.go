package client

import (
	"context"
	"errors"
)

// AttestationSuffix names a package's attestation sidecar (CEP 27, as
// prefix.dev publishes it): FILE.v0.sigs next to FILE.
const AttestationSuffix = ".v0.sigs"

// MaxAttestationSize caps the download of an attestation sidecar. A real
// one holds one Sigstore bundle of about 11 KB.
const MaxAttestationSize = 4 << 20

// Attestation is what [FetchOptions.Attestation] is given to decide on: a
// package's attestation sidecar and what it must attest. The client only
// fetches it; the decision is the caller's (package attest).
type Attestation struct {
	File   string // the package file name
	SHA256 string // the sha256 of its bytes (they matched the record)
	URL    string // where the sidecar was looked for
	// Sidecar holds the sidecar's bytes, or nil when the server has none
	// (HTTP 404 or no such file).
	Sidecar []byte
}

// FetchAttestation fetches the sidecar at url, at most
// [MaxAttestationSize] bytes. A sidecar the server does not have is
// (nil, nil); other errors are the fetcher's.
func FetchAttestation(ctx context.Context, f Fetcher, url string) ([]byte, error) {
	data, err := readAllLimited(ctx, f, url, MaxAttestationSize)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return data, err
}

package attest

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/condatrust/condatrust/trust"
)

// Limits of what [ParseSidecar] accepts. A real sidecar holds one bundle of
// about 11 KB.
const (
	// MaxSidecarSize is the largest sidecar or bundle accepted, in bytes;
	// fetchers should cap downloads at it.
	MaxSidecarSize = 4 << 20
	// MaxBundles is the most bundles one sidecar may hold.
	MaxBundles = 64
)

// SidecarSuffix is appended to a package's file name to name its sidecar:
// foo-1.0-0.conda.v0.sigs, next to the package.
const SidecarSuffix = ".v0.sigs"

// sidecarRole names the document in format errors.
const sidecarRole = "attestation sidecar"

// ParseSidecar reads a `.v0.sigs` sidecar (a JSON array of Sigstore
// bundles) or a bare bundle (one JSON object). It checks each bundle's
// form (sigstore-go's bundle validation) but verifies nothing. An empty
// array is well formed: it attests nothing, and [Verifier.Verify] refuses
// it. Errors are [*trust.FormatError]s naming the bundle.
func ParseSidecar(data []byte) ([]*bundle.Bundle, error) {
	if len(data) > MaxSidecarSize {
		return nil, &trust.FormatError{Role: sidecarRole, Reason: fmt.Sprintf("%d bytes, more than the %d accepted", len(data), MaxSidecarSize)}
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, &trust.FormatError{Role: sidecarRole, Reason: "empty file: expected a JSON array of Sigstore bundles or one bundle"}
	}
	var raws []json.RawMessage
	bare := trimmed[0] == '{'
	switch trimmed[0] {
	case '{':
		raws = []json.RawMessage{trimmed}
	case '[':
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, &trust.FormatError{Role: sidecarRole, Reason: "not a JSON array of Sigstore bundles: " + err.Error()}
		}
	default:
		return nil, &trust.FormatError{Role: sidecarRole, Reason: "not JSON: expected a JSON array of Sigstore bundles or one bundle"}
	}
	if len(raws) > MaxBundles {
		return nil, &trust.FormatError{Role: sidecarRole, Reason: fmt.Sprintf("%d bundles, more than the %d accepted", len(raws), MaxBundles)}
	}
	out := make([]*bundle.Bundle, 0, len(raws))
	for i, raw := range raws {
		field := fmt.Sprintf("[%d]", i)
		if bare {
			field = ""
		}
		if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
			return nil, &trust.FormatError{Role: sidecarRole, Field: field, Reason: "not a JSON object (a Sigstore bundle)"}
		}
		b := &bundle.Bundle{}
		if err := b.UnmarshalJSON(raw); err != nil {
			return nil, &trust.FormatError{Role: sidecarRole, Field: field, Reason: "not a valid Sigstore bundle: " + err.Error()}
		}
		out = append(out, b)
	}
	return out, nil
}

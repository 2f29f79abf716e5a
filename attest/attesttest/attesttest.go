// Package attesttest makes Sigstore attestations for tests: a throw-away
// Sigstore instance (sigstore-go's virtual Fulcio, Rekor, CT log and
// timestamp authority, in memory), its trusted_root.json, and `.v0.sigs`
// sidecars it signs, in the form prefix.dev publishes. Never use it
// outside tests: its keys live in memory and its certificates are made
// for any identity asked.
package attesttest

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/proto"
)

// Sigstore is a throw-away Sigstore instance.
type Sigstore struct {
	vs *ca.VirtualSigstore
}

// New makes a Sigstore instance. Its logs are valid for an hour either side
// of now.
func New() (*Sigstore, error) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		return nil, err
	}
	return &Sigstore{vs: vs}, nil
}

// TrustedRoot returns the instance's trusted_root.json. It lists no CT
// log: the virtual Fulcio embeds no SCTs, and a root without CT logs is
// verified without them.
func (s *Sigstore) TrustedRoot() ([]byte, error) {
	// The virtual logs' IDs are their hex key IDs; a trusted root holds
	// the raw bytes.
	logs := map[string]*root.TransparencyLog{}
	for k, l := range s.vs.RekorLogs() {
		c := *l
		id, err := hex.DecodeString(k)
		if err != nil {
			return nil, err
		}
		c.ID = id
		logs[k] = &c
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, s.vs.FulcioCertificateAuthorities(),
		nil, s.vs.TimestampingAuthorities(), logs)
	if err != nil {
		return nil, err
	}
	return tr.MarshalJSON()
}

// Statement is a CEP 27 publish statement for a package file.
func Statement(name, sha256, channel string) []byte {
	b, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": name, "digest": map[string]any{"sha256": sha256}}},
		"predicateType": "https://schemas.conda.org/attestations-publish-1.schema.json",
		"predicate":     map[string]any{"targetChannel": channel},
	})
	return b
}

// Sidecar signs statement as identity (certificate SAN) with OIDC issuer
// and returns a `.v0.sigs` sidecar: a JSON array with one Sigstore bundle
// v0.3 (DSSE envelope, certificate, a Rekor dsse entry with inclusion
// proof and signed entry timestamp, an RFC 3161 timestamp).
func (s *Sigstore) Sidecar(identity, issuer string, statement []byte) ([]byte, error) {
	logTime := time.Now().Add(5 * time.Minute) // within the 10-minute certificate made now
	e, err := s.vs.AttestAtTime(identity, issuer, statement, logTime, true)
	if err != nil {
		return nil, err
	}
	entries, _ := e.TlogEntries()
	tle := proto.Clone(entries[0].TransparencyLogEntry()).(*protorekor.TransparencyLogEntry)
	logID, err := s.vs.RekorLogID()
	if err != nil {
		return nil, err
	}
	// sigstore-go keeps the entry timestamp outside the protobuf entry:
	// sign it again, as the log did, for the bundle.
	set, err := s.vs.RekorSignPayload(tlog.RekorPayload{Body: base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
		IntegratedTime: tle.IntegratedTime, LogIndex: tle.LogIndex, LogID: logID})
	if err != nil {
		return nil, err
	}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	tle.KindVersion = &protorekor.KindVersion{Kind: "dsse", Version: "0.0.1"}

	vc, _ := e.VerificationContent()
	sc, _ := e.SignatureContent()
	env := sc.EnvelopeContent().RawEnvelope()
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, err
	}
	var sigs []*protodsse.Signature
	for _, sg := range env.Signatures {
		raw, err := base64.StdEncoding.DecodeString(sg.Sig)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, &protodsse.Signature{Sig: raw, Keyid: sg.KeyID})
	}
	tss, _ := e.Timestamps()
	var rfc []*protocommon.RFC3161SignedTimestamp
	for _, ts := range tss {
		rfc = append(rfc, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: ts})
	}
	pb := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_Certificate{
				Certificate: &protocommon.X509Certificate{RawBytes: vc.Certificate().Raw}},
			TlogEntries:               []*protorekor.TransparencyLogEntry{tle},
			TimestampVerificationData: &protobundle.TimestampVerificationData{Rfc3161Timestamps: rfc},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: payload, PayloadType: env.PayloadType, Signatures: sigs}},
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		return nil, fmt.Errorf("attesttest: bundle: %w", err)
	}
	one, err := b.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return append(append([]byte("["), one...), "]\n"...), nil
}

package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/trust"
)

// A channel with Attestation: the sidecar is fetched from next to the
// package upstream and the hook decides before the package is downloaded;
// a refusal is 403 with rule attestation; an accepted (file, sha256) is
// not asked again.
func TestAttestationRequired(t *testing.T) {
	var mu sync.Mutex
	var calls []client.Attestation
	hook := func(a client.Attestation) error {
		mu.Lock()
		calls = append(calls, a)
		mu.Unlock()
		switch {
		case a.Sidecar == nil:
			return &trust.VerificationError{Role: a.File, Rule: trust.RuleAttestation, Detail: "no attestation found at " + a.URL}
		case string(a.Sidecar) != "good":
			return &trust.VerificationError{Role: a.File, Rule: trust.RuleAttestation, Detail: "identity does not match"}
		}
		return nil
	}
	e := newEnv(t, func(c *Config) { c.Channels[0].Attestation = hook })
	path := "/main/noarch/" + e.fn
	sidecar := "noarch/" + e.fn + client.AttestationSuffix
	sum := sha256.Sum256(e.pkg)

	resp, body := e.get(path)
	e.refused(resp, body, http.StatusForbidden, trust.RuleAttestation, "no attestation found at "+e.up.URL+"/"+sidecar)
	if n := e.upstreamRequests("noarch/" + e.fn); n != 0 {
		t.Errorf("package downloaded %d times before its attestation was checked", n)
	}

	e.ch.SetFile(sidecar, []byte("bad"))
	resp, body = e.get(path)
	e.refused(resp, body, http.StatusForbidden, trust.RuleAttestation, "identity does not match")

	e.ch.SetFile(sidecar, []byte("good"))
	for range 2 {
		resp, body = e.get(path)
		if resp.StatusCode != http.StatusOK || string(body) != string(e.pkg) {
			t.Fatalf("attested package: %d %q", resp.StatusCode, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 3 {
		t.Fatalf("hook called %d times, want 3 (missing, bad, good once)", len(calls))
	}
	last := calls[2]
	if last.File != e.fn || last.SHA256 != hex.EncodeToString(sum[:]) || !strings.HasSuffix(last.URL, sidecar) {
		t.Errorf("hook given %+v", last)
	}
	if n := e.upstreamRequests(sidecar); n != 3 {
		t.Errorf("sidecar fetched %d times, want 3", n)
	}
}

// A channel without Attestation never asks for sidecars; an I/O failure
// fetching one is not a refusal.
func TestAttestationUpstreamError(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Channels[0].Attestation = func(client.Attestation) error { return errors.New("not reached") }
	})
	e.ch.SetFile("noarch/"+e.fn+client.AttestationSuffix, make([]byte, client.MaxAttestationSize+1))
	resp, body := e.get("/main/noarch/" + e.fn)
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("X-Conda-Trust-Rule") != "" || !strings.Contains(string(body), "v0.sigs") {
		t.Errorf("too large sidecar: %d %q %q", resp.StatusCode, resp.Header.Get("X-Conda-Trust-Rule"), body)
	}
}

func TestAttestationLegacyRefused(t *testing.T) {
	_, err := New(Config{CacheDir: t.TempDir(), TrustDir: t.TempDir(), LegacyKeys: t.TempDir(),
		Channels: []Channel{{Name: "old", URL: t.TempDir(), Legacy: true, TrustedKeys: []string{"K"},
			Attestation: func(client.Attestation) error { return nil }}}})
	if err == nil || !strings.Contains(err.Error(), "not of a legacy one") {
		t.Errorf("legacy channel with attestation: %v", err)
	}
}

package client

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/trust"
)

// TestUnreachable checks that a server that cannot be reached is reported
// in words, as ErrUnreachable, and never as a verification failure.
func TestUnreachable(t *testing.T) {
	// A port nobody listens on: take one, then close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/ch/1.root.json"
	l.Close()

	tlsSrv := httptest.NewTLSServer(nil)
	defer tlsSrv.Close()

	f := NewFetcher(HTTPOptions{})
	for _, c := range []struct {
		url, reason string
	}{
		{refused, "cannot reach " + refused + ": connection refused (nothing listens at that address and port)"},
		{tlsSrv.URL + "/x", "cannot reach " + tlsSrv.URL + "/x: its TLS certificate is not trusted by this machine"},
	} {
		rc, err := f.Fetch(context.Background(), c.url)
		if err == nil {
			rc.Close()
			t.Fatalf("%s: fetched", c.url)
		}
		if !errors.Is(err, ErrUnreachable) || errors.Is(err, trust.ErrVerification) {
			t.Errorf("%s: %v: want ErrUnreachable only", c.url, err)
		}
		if err.Error() != c.reason {
			t.Errorf("%s:\n got %q\nwant %q", c.url, err, c.reason)
		}
		if strings.Contains(err.Error(), "dial tcp") {
			t.Errorf("%s: %q shows the raw dial error", c.url, err)
		}
	}

	// A cancelled request is not "unreachable": the user stopped it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Fetch(ctx, tlsSrv.URL); errors.Is(err, ErrUnreachable) {
		t.Errorf("cancelled request reported as unreachable: %v", err)
	}
}

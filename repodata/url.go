package repodata

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/condatrust/condatrust/trust"
)

// ResolveBaseURL returns the folder a package is downloaded from when the
// repodata at repodataURL has an info.base_url (CEP 15): baseURL resolved
// against repodataURL, ending in "/". base_url is not signed, so whoever
// serves the repodata could point downloads anywhere: to plain http for an
// https channel, to another host, or to file:// on the user's machine. It
// is accepted only with the same scheme and host (and port) as channelURL;
// anything else is refused with rule trust.RuleBaseURL. The package's
// bytes are checked against its signed record wherever they come from;
// this rule keeps the download where the user chose to trust the
// transport.
func ResolveBaseURL(channelURL, repodataURL, baseURL string) (string, error) {
	fail := func(format string, args ...any) error {
		return &trust.VerificationError{Role: "info.base_url", Rule: trust.RuleBaseURL, Detail: fmt.Sprintf(format, args...)}
	}
	ch, err := url.Parse(channelURL)
	if err != nil {
		return "", fmt.Errorf("channel URL %q: %w", channelURL, err)
	}
	src, err := url.Parse(repodataURL)
	if err != nil {
		return "", fmt.Errorf("repodata URL %q: %w", repodataURL, err)
	}
	ref, err := url.Parse(baseURL)
	if err != nil {
		return "", fail("%q is not a URL: %v", baseURL, err)
	}
	b := src.ResolveReference(ref)
	if !strings.EqualFold(b.Scheme, ch.Scheme) || !strings.EqualFold(b.Host, ch.Host) {
		return "", fail("%q would send downloads to %s://%s, not to the channel's %s://%s; it is not signed, so it is not followed",
			baseURL, b.Scheme, b.Host, ch.Scheme, ch.Host)
	}
	if b.User != nil {
		return "", fail("%q carries user information; it is not followed", baseURL)
	}
	s := b.String()
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s, nil
}

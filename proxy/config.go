package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/legacysign"
)

// Channel maps http://LISTEN/Name/... to the upstream channel URL.
type Channel struct {
	// Name is the first path segment clients use: letters, digits, '.',
	// '_' and '-', not starting with '.' or '-'.
	Name string
	// URL is the upstream channel: http://, https://, file://, a local
	// folder, or a URL of a scheme in [Config.Schemes] (s3://BUCKET/PREFIX
	// for a channel in a bucket). It must be pinned in the trust store,
	// unless Legacy.
	URL string
	// Legacy serves the channel under the legacy `conda sign` (RSA) rules
	// instead of content trust: each package must have a FILE.sig by a
	// key trusted for the channel (TrustedKeys, or what
	// [Config.LegacyChannelKeys] allows), installed in [Config.LegacyKeys];
	// its repodata is served unverified. A legacy channel must not be
	// pinned in the trust store: a channel pinned for content trust is
	// never verified by the weaker legacy rules.
	Legacy bool
	// TrustedKeys are the conda sign key names trusted for a Legacy
	// channel's packages. Only for Legacy channels.
	TrustedKeys []string
	// Attestation, if set, requires each package of the channel to carry
	// an attestation (CEP 27) it accepts: before a package is downloaded
	// or served, its sidecar FILE.v0.sigs is fetched from next to it
	// upstream and Attestation decides, given the sha256 of the package's
	// verified record (the bytes are then checked against it). A sidecar
	// the upstream does not have is passed as nil. A refusal is answered
	// 403 with its rule, as a refused record. Accepted (file, sha256)
	// pairs are remembered while the proxy runs. Only for content-trust
	// channels. The CLI builds it from package attest.
	Attestation func(client.Attestation) error
}

// Config configures a [Server]. Zero values take the documented defaults.
type Config struct {
	// Channels served; at least one, names distinct.
	Channels []Channel
	// TrustDir is the trust store ([client.Store]); "" means
	// [client.DefaultStoreDir].
	TrustDir string
	// CacheDir holds the package cache (CacheDir/pkgs) and the signature
	// cache (CacheDir/sigcache). Required.
	CacheDir string
	// CacheMax bounds the package cache in bytes (LRU eviction). Default
	// 20 GiB.
	CacheMax int64
	// Refresh is how long a verified repodata is served before the
	// upstream is asked again (conditionally), and how often the channel's
	// root chain and key_mgr are updated. Default 60s.
	Refresh time.Duration
	// StaleFor is how long after its last confirmation by the upstream a
	// verified repodata is still served while the upstream fails (network,
	// HTTP error, timeout). Trust refusals are never covered by it.
	// Default 24h; a negative value disables stale serving.
	StaleFor time.Duration
	// OnUntrusted is "drop" (default: untrusted and unsigned records are
	// left out of the served repodata and logged) or "refuse" (a subdir
	// with any such record is answered with an error).
	OnUntrusted string
	// LegacyKeys is the folder of installed conda sign public keys
	// (NAME.pub, a [legacysign.KeyDir]) that the packages of Legacy
	// channels are verified with. Required when a channel is Legacy; it
	// has no effect on content-trust channels.
	LegacyKeys string
	// LegacyChannelKeys, if set, is a pinning file
	// ([legacysign.ParseChannelKeys]): the key names it allows for a
	// package from a Legacy channel's URL are trusted besides the
	// channel's TrustedKeys.
	LegacyChannelKeys *legacysign.ChannelKeys
	// MaxRepodata caps each upstream repodata, compressed and
	// decompressed. Default [client.DefaultMaxRepodataSize] (1 GiB).
	MaxRepodata int64
	// MaxConcurrentDownloads bounds concurrent upstream package downloads.
	// Default 8.
	MaxConcurrentDownloads int
	// MaxConns bounds concurrent client connections in [Server.Serve].
	// Default 512.
	MaxConns int
	// Timeout bounds connecting, waiting for headers and every wait for
	// body bytes from the upstream (a stall). Default 30s.
	Timeout time.Duration
	// Deadline bounds one whole upstream request. Default
	// [client.DefaultTotalTimeout].
	Deadline time.Duration
	// AllowRedirectHosts lists the hosts (host or host:port, lower case)
	// an upstream may redirect to besides its own.
	AllowRedirectHosts []string
	// Logger receives one line per refusal and per upstream failure;
	// default slog.Default().
	Logger *slog.Logger
	// Registry receives the metrics. nil: a new registry, served at
	// /metrics. A Registry that is also a prometheus.Gatherer (such as a
	// *prometheus.Registry) is served at /metrics; any other is not, and
	// /metrics answers 404.
	Registry prometheus.Registerer
	// Now is the clock, for tests; default time.Now.
	Now func() time.Time
	// Fetcher replaces the upstream HTTP client, for tests. It is used
	// without conditional requests.
	Fetcher client.Fetcher
	// Schemes reads upstream URLs of other schemes than http, https and
	// file, by lower-case scheme: "s3" for channels in buckets (the
	// command line gives storage/s3store's Fetcher, wrapped in
	// [client.ObjectFetcher]). A Fetcher with FetchConditional (such as
	// [client.ObjectFetcher]) gets conditional requests (ETag) on refresh.
	Schemes map[string]client.Fetcher
}

// Defaults.
const (
	DefaultRefresh                = 60 * time.Second
	DefaultStaleFor               = 24 * time.Hour
	DefaultCacheMax               = 20 << 30
	DefaultMaxConcurrentDownloads = 8
	DefaultMaxConns               = 512
	DefaultTimeout                = 30 * time.Second
)

// The values of [Config.OnUntrusted].
const (
	OnUntrustedDrop   = "drop"
	OnUntrustedRefuse = "refuse"
)

var channelNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

func (c *Config) withDefaults() error {
	if len(c.Channels) == 0 {
		return errors.New("proxy: no channel to serve")
	}
	if c.CacheDir == "" {
		return errors.New("proxy: no cache directory")
	}
	if c.TrustDir == "" {
		d, err := client.DefaultStoreDir()
		if err != nil {
			return err
		}
		c.TrustDir = d
	}
	if c.CacheMax <= 0 {
		c.CacheMax = DefaultCacheMax
	}
	if c.Refresh <= 0 {
		c.Refresh = DefaultRefresh
	}
	if c.StaleFor == 0 {
		c.StaleFor = DefaultStaleFor
	}
	switch c.OnUntrusted {
	case "":
		c.OnUntrusted = OnUntrustedDrop
	case OnUntrustedDrop, OnUntrustedRefuse:
	default:
		return fmt.Errorf("proxy: on-untrusted %q: use drop or refuse", c.OnUntrusted)
	}
	if c.MaxRepodata <= 0 {
		c.MaxRepodata = client.DefaultMaxRepodataSize
	}
	if c.MaxConcurrentDownloads <= 0 {
		c.MaxConcurrentDownloads = DefaultMaxConcurrentDownloads
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Deadline <= 0 {
		c.Deadline = client.DefaultTotalTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// upstreamURL turns a channel's URL or folder into a normalized URL.
func upstreamURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		abs, err := filepath.Abs(s)
		if err != nil {
			return "", err
		}
		st, err := os.Stat(abs)
		if err != nil {
			return "", fmt.Errorf("channel folder %s: %w", s, err)
		}
		if !st.IsDir() {
			return "", fmt.Errorf("channel folder %s: not a directory", s)
		}
		s = "file://" + filepath.ToSlash(abs)
		if !strings.HasPrefix(filepath.ToSlash(abs), "/") {
			s = "file:///" + filepath.ToSlash(abs)
		}
	}
	return client.NormalizeURL(s)
}

// detached returns a context that outlives the request that started a
// shared job (a refresh several requests wait for), bounded by d.
func detached(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}

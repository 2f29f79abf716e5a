package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// proxyFile is the TOML configuration file of `conda-trust proxy`. Every
// key mirrors a flag of the same name (with _ for -); flags given on the
// command line win over the file. docs/proxy.md shows a complete file.
type proxyFile struct {
	Listen             string         `toml:"listen"`
	AllowRemote        bool           `toml:"allow_remote"`
	TrustDir           string         `toml:"trust_dir"`
	CacheDir           string         `toml:"cache_dir"`
	CacheMax           string         `toml:"cache_max"`
	Refresh            string         `toml:"refresh"`
	StaleFor           string         `toml:"stale_for"`
	OnUntrusted        string         `toml:"on_untrusted"`
	MaxRepodata        string         `toml:"max_repodata"`
	MaxDownloads       int            `toml:"max_downloads"`
	MaxConns           int            `toml:"max_conns"`
	Timeout            string         `toml:"timeout"`
	Deadline           string         `toml:"deadline"`
	AllowRedirectHosts []string       `toml:"allow_redirect_hosts"`
	LogFormat          string         `toml:"log_format"`
	LegacyKeys         string         `toml:"legacy_keys"`
	LegacyChannelKeys  string         `toml:"legacy_channel_keys"`
	Channels           []proxyChannel `toml:"channel"`
}

// proxyChannel is a [[channel]] of the file, or a --channel or
// --legacy-channel flag. A legacy channel (legacy = true) is served under
// the conda sign rules, with TrustedKeys (trusted_keys = [...], or the
// --legacy-key flags) trusted for it.
//
// With require_attestation = true (file only), every package of the
// channel must also carry a Sigstore attestation (CEP 27) by the policy
// the channel's sigstore_root and attest_* keys give, as fetch's
// --require-attestation does (docs/attestations.md).
type proxyChannel struct {
	Name        string   `toml:"name"`
	URL         string   `toml:"url"`
	Legacy      bool     `toml:"legacy"`
	TrustedKeys []string `toml:"trusted_keys"`

	RequireAttestation   bool   `toml:"require_attestation"`
	SigstoreRoot         string `toml:"sigstore_root"`
	AttestIdentity       string `toml:"attest_identity"`
	AttestIdentityRegexp string `toml:"attest_identity_regexp"`
	AttestIssuer         string `toml:"attest_issuer"`
	AttestChannel        string `toml:"attest_channel"`
}

// attestOpts returns the channel's attestation policy in the flags' form.
func (c proxyChannel) attestOpts() attestOpts {
	return attestOpts{require: c.RequireAttestation, root: c.SigstoreRoot, identity: c.AttestIdentity,
		identityRegexp: c.AttestIdentityRegexp, issuer: c.AttestIssuer, channel: c.AttestChannel}
}

// parseProxyFile reads a configuration file strictly: unknown keys, a
// key given twice and values of the wrong type are errors that name the
// file, the line where the parser knows it, and the key.
func parseProxyFile(name string, data []byte) (*proxyFile, error) {
	var pf proxyFile
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&pf)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: line %d: %s", name, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("%s: unknown key(s) %s (docs/proxy.md lists every key)", name, strings.Join(keys, ", "))
	}
	seen := map[string]bool{}
	for i, c := range pf.Channels {
		if c.Name == "" || c.URL == "" {
			return nil, fmt.Errorf("%s: [[channel]] number %d needs both name and url", name, i+1)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("%s: channel %q is defined twice", name, c.Name)
		}
		if len(c.TrustedKeys) > 0 && !c.Legacy {
			return nil, fmt.Errorf("%s: channel %q: trusted_keys (conda sign key names) is only for a channel with legacy = true", name, c.Name)
		}
		if c.RequireAttestation && c.Legacy {
			return nil, fmt.Errorf("%s: channel %q: require_attestation is only for content-trust channels, not with legacy = true", name, c.Name)
		}
		if a := c.attestOpts(); !a.require && a.given() {
			return nil, fmt.Errorf("%s: channel %q: sigstore_root and attest_* take effect only with require_attestation = true: add it, or drop them", name, c.Name)
		}
		seen[c.Name] = true
	}
	return &pf, nil
}

// parseChannelFlag parses --channel NAME=URL.
func parseChannelFlag(s string) (proxyChannel, error) {
	return parseChannelArg("--channel", s)
}

// parseChannelArg parses NAME=URL given to flag.
func parseChannelArg(flag, s string) (proxyChannel, error) {
	name, url, ok := strings.Cut(s, "=")
	if !ok || name == "" || url == "" {
		return proxyChannel{}, fmt.Errorf("%s %q: use NAME=URL, such as conda-forge=https://conda.example.org/conda-forge", flag, s)
	}
	if err := checkChannelName(name); err != nil {
		return proxyChannel{}, fmt.Errorf("%s %q: %v", flag, s, err)
	}
	return proxyChannel{Name: name, URL: url}, nil
}

// checkChannelName accepts the names that can be one URL path segment of
// the proxy: letters, digits, '-', '_' and '.', not starting with '.'.
func checkChannelName(name string) error {
	if name == "" || name[0] == '.' || len(name) > 100 {
		return fmt.Errorf("channel name %q: 1 to 100 characters, not starting with '.'", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("channel name %q: use letters, digits, '-', '_' and '.'", name)
		}
	}
	return nil
}

// parseSize reads a byte count: a whole number with an optional unit
// (B, KB, MB, GB, TB in powers of 1000; KiB, MiB, GiB, TiB in powers of
// 1024). "0" means unbounded where the option says so.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size: use a whole number of bytes with an optional unit, such as 512MiB or 20GB", s)
	}
	return n * mult, nil
}

// parseDuration reads a positive Go duration ("60s", "24h").
func parseDuration(what, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q: use a positive duration such as 60s, 15m or 24h", what, s)
	}
	return d, nil
}

// checkListen refuses a non-loopback address unless allowRemote: a proxy
// that decides what a machine installs should not be reachable from the
// network by accident.
func checkListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: use HOST:PORT, such as 127.0.0.1:8787", addr)
	}
	if allowRemote {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %q is not a loopback address: give --allow-remote to serve other machines (put TLS in front, docs/proxy.md)", addr)
	}
	return nil
}

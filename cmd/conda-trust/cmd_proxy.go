package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/internal/interrupt"
	"github.com/condatrust/condatrust/legacysign"
	"github.com/condatrust/condatrust/proxy"
)

// proxyOpts are the flags of `conda-trust proxy`; each has a key of the
// same name in the --config file (proxy_config.go).
type proxyOpts struct {
	config             string
	listen             string
	allowRemote        bool
	channels           []string
	trustDir           string
	cacheDir           string
	cacheMax           string
	refresh            string
	staleFor           string
	onUntrusted        string
	maxRepodata        string
	maxDownloads       int
	maxConns           int
	timeout            string
	deadline           string
	allowRedirectHosts []string
	logFormat          string
	addrFile           string
	legacyChannels     []string
	legacyKeys         string
	legacyKeyNames     []string
	legacyChannelKeys  string
}

func init() {
	register(func() *cobra.Command {
		o := &proxyOpts{}
		cmd := &cobra.Command{
			Use:   "proxy --channel NAME=URL [--channel NAME=URL ...] [--listen ADDR] [--config FILE]",
			Short: "Serve channels to conda, mamba and pixi, passing on only what verifies",
			Long: `Run a verifying proxy: http://LISTEN/NAME/... serves the channel URL given for
NAME, with only what verified against the channel's pinned root. Point any
client at it, unchanged:

  conda install -c http://127.0.0.1:8787/conda-forge --override-channels numpy

  - repodata.json (and .zst, current_repodata.json): refreshed from upstream at
    most every --refresh, every record verified (signature threshold of the
    channel's pkg_mgr keys and the record's binding to its file name); served
    with only trusted records, their signatures kept. Untrusted and unsigned
    records are dropped and logged (--on-untrusted refuse fails the subdir).
    When upstream fails, the last verified copy is served for --stale-for.
  - packages: only those the verified repodata lists, downloaded with a size
    cap, served only after size and sha256 (and md5) match the signed record;
    verified packages are cached by content (--cache-dir, --cache-max).
  - N.root.json and key_mgr.json: the verified copies from the trust store.
  - sharded repodata (CEP 16): 404, so clients read the verified repodata.json.
  - /healthz and /metrics (Prometheus).

Every channel must be pinned first: conda-trust add URL --root ROOT_FILE.
A channel signed only with the legacy conda sign (RSA) is served with
--legacy-channel NAME=URL instead, and must not be pinned: each package
needs FILE.sig by a key trusted for it (--legacy-key NAME, or
--legacy-channel-keys FILE) and installed in --legacy-keys DIR, or it is
refused (signature invalid, missing, key not installed or not trusted);
its repodata is served unverified (header X-Conda-Trust-Verified: no).
The proxy listens on loopback unless --allow-remote; SIGINT or SIGTERM stops
it gracefully (a second signal at once). docs/proxy.md shows client
configuration for conda, mamba and pixi, and every status it answers.`,
			Example: `  conda-trust add https://conda.example.org/conda-forge --root 1.root.json
  conda-trust proxy --channel conda-forge=https://conda.example.org/conda-forge
  conda-trust proxy --config /etc/condatrust/proxy.toml --log-format json
  conda-trust proxy --legacy-channel old=https://old.example.com/ch --legacy-keys /etc/condatrust/conda-sign-keys --legacy-key MyKey`,
			Args: exactArgs(0, "no positional arguments (channels are --channel NAME=URL)"),
			RunE: func(cmd *cobra.Command, args []string) error { return runProxy(cmd, o) },
		}
		fs := cmd.Flags()
		fs.StringVar(&o.config, "config", "", "TOML file with the channels and any flag below (flags given here win)")
		fs.StringVar(&o.listen, "listen", "127.0.0.1:8787", "address to listen on")
		fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a --listen address that is not loopback")
		fs.StringArrayVar(&o.channels, "channel", nil, "NAME=URL: serve the pinned channel URL (http(s)://, file://, s3://BUCKET/PREFIX or a folder) as /NAME (repeatable)")
		fs.StringVar(&o.trustDir, "trust-dir", "", "trust store folder (default $"+client.TrustDirEnv+", else condatrust/trust in the user config folder)")
		fs.StringVar(&o.cacheDir, "cache-dir", "", "folder for verified packages and the verification cache (default condatrust/proxy in the user cache folder)")
		fs.StringVar(&o.cacheMax, "cache-max", "20GiB", "bound on the package cache; least recently used packages are evicted (0: no bound)")
		fs.StringVar(&o.refresh, "refresh", "60s", "fetch a subdir's repodata from upstream at most this often")
		fs.StringVar(&o.staleFor, "stale-for", "24h", "when upstream fails, serve the last verified repodata for at most this long (0: never)")
		fs.StringVar(&o.onUntrusted, "on-untrusted", "drop", "drop: serve repodata without untrusted or unsigned records; refuse: fail the whole subdir")
		fs.StringVar(&o.maxRepodata, "max-repodata", "1GiB", "largest repodata.json accepted from upstream")
		fs.IntVar(&o.maxDownloads, "max-downloads", 8, "most package downloads from upstream at once")
		fs.IntVar(&o.maxConns, "max-conns", 512, "most client connections at once")
		fs.StringVar(&o.timeout, "timeout", "30s", "give up on an upstream that does not answer or stops sending for this long")
		fs.StringVar(&o.deadline, "deadline", "30m", "give up on any one upstream request that takes longer than this")
		fs.StringArrayVar(&o.allowRedirectHosts, "allow-redirect-host", nil, "host an upstream may redirect to besides its own (repeatable)")
		fs.StringVar(&o.logFormat, "log-format", "text", "log lines on stderr as text or json")
		fs.StringVar(&o.addrFile, "addr-file", "", "write the address listened on to this file once ready (useful with --listen 127.0.0.1:0)")
		fs.StringArrayVar(&o.legacyChannels, "legacy-channel", nil, "NAME=URL: serve the channel URL, not pinned, with legacy conda sign (RSA) rules: packages verified with FILE.sig, repodata unverified (repeatable)")
		// fetch names the same folder --legacy-keys-dir: accept both here.
		fs.SetNormalizeFunc(flagAlias("legacy-keys-dir", "legacy-keys"))
		fs.StringVar(&o.legacyKeys, "legacy-keys", "", "folder of conda sign public keys NAME.pub the packages of legacy channels are verified with (required with a legacy channel)")
		fs.StringArrayVar(&o.legacyKeyNames, "legacy-key", nil, "conda sign key name trusted for every --legacy-channel (repeatable)")
		fs.StringVar(&o.legacyChannelKeys, "legacy-channel-keys", "", "pinning file binding channel URL prefixes and package-name globs to trusted conda sign key names (format: conda-sign --help)")
		return cmd
	})
}

// proxySettings merges the --config file with the flags the user gave.
func proxySettings(cmd *cobra.Command, o *proxyOpts) (*proxyOpts, []proxyChannel, error) {
	eff := *o
	var chans []proxyChannel
	if o.config != "" {
		data, err := readInput(o.config)
		if err != nil {
			return nil, nil, err
		}
		pf, err := parseProxyFile(o.config, data)
		if err != nil {
			return nil, nil, usageError("%v", err)
		}
		fs := cmd.Flags()
		set := func(name string, dst *string, v string) {
			if v != "" && !fs.Changed(name) {
				*dst = v
			}
		}
		set("listen", &eff.listen, pf.Listen)
		set("trust-dir", &eff.trustDir, pf.TrustDir)
		set("cache-dir", &eff.cacheDir, pf.CacheDir)
		set("cache-max", &eff.cacheMax, pf.CacheMax)
		set("refresh", &eff.refresh, pf.Refresh)
		set("stale-for", &eff.staleFor, pf.StaleFor)
		set("on-untrusted", &eff.onUntrusted, pf.OnUntrusted)
		set("max-repodata", &eff.maxRepodata, pf.MaxRepodata)
		set("timeout", &eff.timeout, pf.Timeout)
		set("deadline", &eff.deadline, pf.Deadline)
		set("log-format", &eff.logFormat, pf.LogFormat)
		set("legacy-keys", &eff.legacyKeys, pf.LegacyKeys)
		set("legacy-channel-keys", &eff.legacyChannelKeys, pf.LegacyChannelKeys)
		if pf.AllowRemote && !fs.Changed("allow-remote") {
			eff.allowRemote = true
		}
		if pf.MaxDownloads != 0 && !fs.Changed("max-downloads") {
			eff.maxDownloads = pf.MaxDownloads
		}
		if pf.MaxConns != 0 && !fs.Changed("max-conns") {
			eff.maxConns = pf.MaxConns
		}
		if len(pf.AllowRedirectHosts) > 0 && !fs.Changed("allow-redirect-host") {
			eff.allowRedirectHosts = pf.AllowRedirectHosts
		}
		// Channels on the command line replace the file's.
		if !fs.Changed("channel") && !fs.Changed("legacy-channel") {
			for _, c := range pf.Channels {
				if err := checkChannelName(c.Name); err != nil {
					return nil, nil, usageError("%s: %v", o.config, err)
				}
				chans = append(chans, c)
			}
		}
	}
	if len(o.legacyKeyNames) > 0 && len(o.legacyChannels) == 0 {
		return nil, nil, usageError("--legacy-key names a conda sign key trusted for the --legacy-channel channels: give --legacy-channel NAME=URL (or trusted_keys in a [[channel]] with legacy = true)")
	}
	for _, flag := range []string{"--channel", "--legacy-channel"} {
		args := o.channels
		if flag == "--legacy-channel" {
			args = o.legacyChannels
		}
		for _, s := range args {
			c, err := parseChannelArg(flag, s)
			if err != nil {
				return nil, nil, usageError("%v", err)
			}
			if flag == "--legacy-channel" {
				c.Legacy, c.TrustedKeys = true, o.legacyKeyNames
			}
			for _, d := range chans {
				if d.Name == c.Name {
					return nil, nil, usageError("%s %s: the name %q is given twice", flag, s, c.Name)
				}
			}
			chans = append(chans, c)
		}
	}
	if len(chans) == 0 {
		return nil, nil, usageError("no channel to serve: give --channel NAME=URL (or [[channel]] in --config)")
	}
	return &eff, chans, nil
}

// proxyConfig turns the settings into the library's configuration.
func proxyConfig(o *proxyOpts, chans []proxyChannel, logger *slog.Logger) (proxy.Config, error) {
	cfg := proxy.Config{Logger: logger, MaxConcurrentDownloads: o.maxDownloads,
		MaxConns: o.maxConns, AllowRedirectHosts: o.allowRedirectHosts,
		Schemes: map[string]client.Fetcher{"s3": s3Fetcher()}}
	if err := checkListen(o.listen, o.allowRemote); err != nil {
		return cfg, usageError("%v", err)
	}
	for _, c := range chans {
		u, err := channelArg(c.URL)
		if err != nil {
			return cfg, err
		}
		pc := proxy.Channel{Name: c.Name, URL: u, Legacy: c.Legacy, TrustedKeys: c.TrustedKeys}
		if c.RequireAttestation {
			if pc.Attestation, err = proxyAttestation(c); err != nil {
				return cfg, err
			}
		}
		cfg.Channels = append(cfg.Channels, pc)
	}
	if err := proxyLegacyConfig(o, chans, &cfg); err != nil {
		return cfg, err
	}
	var err error
	if cfg.CacheMax, err = parseSize(o.cacheMax); err != nil {
		return cfg, usageError("--cache-max %v", err)
	}
	if cfg.MaxRepodata, err = parseSize(o.maxRepodata); err != nil {
		return cfg, usageError("--max-repodata %v", err)
	}
	for _, d := range []struct {
		flag, val string
		dst       *time.Duration
	}{{"--refresh", o.refresh, &cfg.Refresh}, {"--timeout", o.timeout, &cfg.Timeout}, {"--deadline", o.deadline, &cfg.Deadline}} {
		if *d.dst, err = parseDuration(d.flag, d.val); err != nil {
			return cfg, usageError("%v", err)
		}
	}
	// --stale-for 0 turns stale serving off (the library's negative value).
	if o.staleFor == "0" {
		cfg.StaleFor = -1
	} else if cfg.StaleFor, err = parseDuration("--stale-for", o.staleFor); err != nil {
		return cfg, usageError("%v", err)
	}
	switch o.onUntrusted {
	case "drop", "refuse":
		cfg.OnUntrusted = o.onUntrusted
	default:
		return cfg, usageError("--on-untrusted %q: use drop or refuse", o.onUntrusted)
	}
	if o.maxDownloads < 1 || o.maxConns < 1 {
		return cfg, usageError("--max-downloads and --max-conns must be at least 1")
	}
	st, err := (&clientOpts{trustDir: o.trustDir}).store()
	if err != nil {
		return cfg, err
	}
	cfg.TrustDir = st.Dir
	cfg.CacheDir = o.cacheDir
	if cfg.CacheDir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return cfg, withHint(fmt.Errorf("no user cache folder: %w", err), "give --cache-dir DIR")
		}
		cfg.CacheDir = filepath.Join(d, "condatrust", "proxy")
	}
	return cfg, nil
}

// proxyLegacyConfig checks and sets what legacy conda sign channels need:
// the keys folder, trusted key names, the pinning file.
func proxyLegacyConfig(o *proxyOpts, chans []proxyChannel, cfg *proxy.Config) error {
	legacy := 0
	for _, c := range chans {
		if !c.Legacy {
			continue
		}
		legacy++
		for _, k := range c.TrustedKeys {
			if err := legacysign.CheckKeyName(k); err != nil {
				return usageError("channel %s: --legacy-key: %v", c.Name, err)
			}
		}
		if len(c.TrustedKeys) == 0 && o.legacyChannelKeys == "" {
			return usageError("legacy channel %s: no conda sign key is trusted for it: give --legacy-key NAME (trusted_keys in the file) or --legacy-channel-keys FILE", c.Name)
		}
	}
	if legacy == 0 {
		if o.legacyKeys != "" || o.legacyChannelKeys != "" {
			return usageError("--legacy-keys and --legacy-channel-keys apply only to legacy channels (--legacy-channel NAME=URL); content-trust channels never fall back to conda sign")
		}
		return nil
	}
	if o.legacyKeys == "" {
		return usageError("a legacy channel needs --legacy-keys DIR, the folder of the conda sign public keys (NAME.pub) its packages are verified with")
	}
	cfg.LegacyKeys = o.legacyKeys
	if o.legacyChannelKeys != "" {
		f, err := os.Open(o.legacyChannelKeys)
		if err != nil {
			return withHint(err, "check the path given to --legacy-channel-keys")
		}
		defer f.Close()
		ck, err := legacysign.ParseChannelKeys(f)
		if err != nil {
			return fmt.Errorf("%s: %w", o.legacyChannelKeys, err)
		}
		cfg.LegacyChannelKeys = ck
	}
	return nil
}

func runProxy(cmd *cobra.Command, o *proxyOpts) error {
	eff, chans, err := proxySettings(cmd, o)
	if err != nil {
		return err
	}
	var h slog.Handler
	switch eff.logFormat {
	case "text":
		h = slog.NewTextHandler(cmd.ErrOrStderr(), nil)
	case "json":
		h = slog.NewJSONHandler(cmd.ErrOrStderr(), nil)
	default:
		return usageError("--log-format %q: use text or json", eff.logFormat)
	}
	logger := slog.New(h)
	cfg, err := proxyConfig(eff, chans, logger)
	if err != nil {
		return err
	}
	srv, err := proxy.New(cfg)
	if err != nil {
		if errors.Is(err, client.ErrNotPinned) {
			return withHint(err, "pin each channel first: conda-trust add URL --root ROOT_FILE (the root from the channel's operator)")
		}
		return err
	}
	l, err := net.Listen("tcp", eff.listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", eff.listen, err)
	}
	addr := l.Addr().String()
	if eff.addrFile != "" {
		if err := atomicfile.WriteFile(eff.addrFile, []byte(addr+"\n"), 0o644); err != nil {
			l.Close()
			return err
		}
	}
	for _, c := range cfg.Channels {
		if c.Legacy {
			logger.Warn("serving a legacy conda sign channel: packages are verified, repodata is not", "channel", c.Name, "upstream", c.URL, "url", "http://"+addr+"/"+c.Name)
			continue
		}
		logger.Info("serving", "channel", c.Name, "upstream", c.URL, "url", "http://"+addr+"/"+c.Name)
	}
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, release := interrupt.Take(parent)
	defer release()
	err = srv.Serve(ctx, l)
	if sig := interrupt.Signal(); sig != nil {
		logger.Info("stopped", "signal", sig.String())
		return nil
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

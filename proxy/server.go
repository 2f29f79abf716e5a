package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/index"
	"github.com/condatrust/condatrust/proxy/pkgcache"
	"github.com/condatrust/condatrust/trust"
)

// Server is a verifying proxy for one or more channels. Build it with
// [New]; it is safe for concurrent use.
type Server struct {
	cfg      Config
	store    *client.Store
	up       *upstream
	pkgs     *pkgcache.Cache
	sigs     *sigCache
	spool    *spoolDir
	m        *metrics
	gatherer prometheus.Gatherer
	channels map[string]*channel
	order    []*channel
	// legacySem bounds legacy downloads outside the package cache.
	legacySem chan struct{}

	// bg runs the background repodata refreshes; bgCancel (Close) stops
	// them.
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc
	// refreshWait makes every request that finds its repodata due wait
	// for the refresh, as before the background refresh (tests whose
	// faults must show at the next request).
	refreshWait bool

	closeOnce sync.Once
	closeErr  error
}

// New checks the configuration, opens the caches and loads each channel's
// trust from the store. A channel that is not pinned is refused with an
// error matching [client.ErrNotPinned]; nothing is fetched yet.
func New(cfg Config) (*Server, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, store: &client.Store{Dir: cfg.TrustDir}, channels: map[string]*channel{},
		legacySem: make(chan struct{}, cfg.MaxConcurrentDownloads)}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	for _, ch := range cfg.Channels {
		if !channelNameRE.MatchString(ch.Name) || ch.Name == "healthz" || ch.Name == "metrics" {
			return nil, fmt.Errorf("proxy: channel name %q: use letters, digits, '.', '_' and '-' (not healthz or metrics)", ch.Name)
		}
		if s.channels[ch.Name] != nil {
			return nil, fmt.Errorf("proxy: channel name %q given twice", ch.Name)
		}
		u, err := upstreamURL(ch.URL)
		if err != nil {
			return nil, fmt.Errorf("proxy: channel %s: %w", ch.Name, err)
		}
		c := &channel{name: ch.Name, url: u, srv: s, docs: map[docKey]*doc{}}
		if ch.Attestation != nil {
			if ch.Legacy {
				return nil, fmt.Errorf("proxy: channel %s: attestations are required only of content-trust channels, not of a legacy one", ch.Name)
			}
			c.attestation, c.attested = ch.Attestation, map[string]bool{}
		}
		if ch.Legacy {
			if c.legacy, err = s.newLegacyChannel(ch, u); err != nil {
				return nil, err
			}
		} else if len(ch.TrustedKeys) > 0 {
			return nil, fmt.Errorf("proxy: channel %s: conda sign keys are trusted only for a legacy channel", ch.Name)
		} else if _, err := s.store.Channel(u); err != nil {
			return nil, fmt.Errorf("proxy: channel %s: %w", ch.Name, err)
		}
		s.channels[ch.Name] = c
		s.order = append(s.order, c)
	}
	reg := cfg.Registry
	if reg == nil {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg, s.gatherer = r, r
	} else if g, ok := reg.(prometheus.Gatherer); ok {
		s.gatherer = g
	}
	var err error
	if s.m, err = newMetrics(reg); err != nil {
		return nil, fmt.Errorf("proxy: metrics: %w", err)
	}
	s.up = newUpstream(&s.cfg)
	if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("proxy: cache: %w", err)
	}
	if s.spool, err = openSpool(cfg.CacheDir); err != nil {
		return nil, fmt.Errorf("proxy: repodata folder: %w", err)
	}
	if s.sigs, err = openSigCache(cfg.CacheDir, cfg.TrustDir, cfg.Logger); err != nil {
		return nil, fmt.Errorf("proxy: signature cache: %w", err)
	}
	if err := reg.Register(newSigCacheCollector(s.sigs)); err != nil {
		return nil, fmt.Errorf("proxy: metrics: %w", err)
	}
	s.pkgs, err = pkgcache.Open(pkgcache.Options{Dir: filepath.Join(cfg.CacheDir, "pkgs"), MaxBytes: cfg.CacheMax,
		MaxConcurrentDownloads: cfg.MaxConcurrentDownloads})
	if err != nil {
		return nil, fmt.Errorf("proxy: package cache: %w", err)
	}
	cleanLegacyTmp(cfg.CacheDir)
	for _, c := range s.order {
		if c.legacy != nil {
			continue
		}
		if err := c.load(); err != nil {
			cfg.Logger.Info("no stored trust yet; it is fetched at the first request", "channel", c.name, "reason", err.Error())
		}
	}
	return s, nil
}

// Ready reports whether every channel has a verified trust state that is
// not refused or expired. A legacy channel has none and is always ready.
func (s *Server) Ready() bool {
	now := s.cfg.Now()
	for _, c := range s.order {
		if c.legacy != nil {
			continue
		}
		c.mu.Lock()
		ok := c.tv != nil && c.refused == nil && !c.tv.expired(now)
		c.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// Close stops the background refreshes, saves the signature cache and
// closes the package cache. Serve calls it when it returns.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.bgCancel()
		s.bg.Wait()
		err1 := s.sigs.save()
		err2 := s.pkgs.Close()
		// The views' files go with the folder (their mappings stay valid).
		err3 := s.spool.remove()
		s.closeErr = errors.Join(err1, err2, err3)
	})
	return s.closeErr
}

// Serve serves the proxy on l until ctx is done, then shuts down
// gracefully (requests in flight get up to 30 seconds) and calls
// [Server.Close]. It first updates each channel's trust in the
// background. At most Config.MaxConns connections are served at once.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	for _, c := range s.order {
		if c.legacy == nil {
			go c.trust(ctx)
		}
	}
	saver := time.NewTicker(5 * time.Minute)
	defer saver.Stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(newLimitListener(l, s.cfg.MaxConns)) }()
	for {
		select {
		case err := <-errc:
			s.Close()
			return err
		case <-saver.C:
			if err := s.sigs.save(); err != nil {
				s.cfg.Logger.Warn("saving the signature cache", "error", err.Error())
			}
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := hs.Shutdown(sctx)
			cancel()
			<-errc
			return errors.Join(err, s.Close())
		}
	}
}

// Handler returns the proxy's HTTP handler (see the package
// documentation for what it serves).
func (s *Server) Handler() http.Handler {
	var metricsH http.Handler
	if s.gatherer != nil {
		metricsH = promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{})
	}
	return http.HandlerFunc(func(hw http.ResponseWriter, r *http.Request) {
		w := &respWriter{ResponseWriter: hw, code: http.StatusOK, route: routeOther}
		defer func() {
			s.m.requests.WithLabelValues(w.route, strconv.Itoa(w.code)).Inc()
			s.m.bytesServed.WithLabelValues(w.route).Add(float64(w.n))
		}()
		switch r.URL.Path {
		case "/healthz":
			w.route = routeHealth
			if !s.Ready() {
				s.fail(w, nil, &httpError{status: http.StatusServiceUnavailable, msg: "not ready: " + s.notReady()})
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write([]byte("ok\n"))
			for _, c := range s.order {
				if c.legacy != nil {
					w.Write([]byte(c.legacy.describe(c) + "\n"))
				}
			}
			return
		case "/metrics":
			w.route = routeMetrics
			if metricsH == nil {
				s.fail(w, nil, &httpError{status: http.StatusNotFound, msg: "metrics are not served here"})
				return
			}
			metricsH.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			s.fail(w, nil, &httpError{status: http.StatusMethodNotAllowed, msg: "only GET and HEAD"})
			return
		}
		s.route(w, r)
	})
}

// Routes, the "route" label of the requests metric.
const (
	routeRepodata = "repodata"
	routePackage  = "package"
	routeMetadata = "metadata"
	routeShards   = "shards"
	routeOther    = "other"
	routeHealth   = "healthz"
	routeMetrics  = "metrics"
)

var rootFileRE = regexp.MustCompile(`^[1-9][0-9]{0,17}\.root\.json$`)

// route dispatches NAME/FILE and NAME/SUBDIR/FILE; everything else is 404
// and never reaches the upstream.
func (s *Server) route(w *respWriter, r *http.Request) {
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	c := s.channels[segs[0]]
	if c == nil {
		s.fail(w, nil, notFound("no channel named %q is served here", segs[0]))
		return
	}
	switch len(segs) {
	case 2:
		w.route = routeMetadata
		s.serveMetadata(w, r, c, segs[1])
		return
	case 3, 4:
	default:
		s.fail(w, c, notFound("not a channel file (NAME/SUBDIR/FILE)"))
		return
	}
	subdir, file := segs[1], segs[2]
	if !index.IsKnownSubdir(subdir) || client.CheckSubdir(subdir) != nil {
		s.fail(w, c, notFound("%q is not a conda subdir", subdir))
		return
	}
	if len(segs) == 4 || file == "repodata_shards.msgpack.zst" {
		if file == "shards" || file == "repodata_shards.msgpack.zst" {
			w.route = routeShards
			shard := ""
			if len(segs) == 4 {
				shard = segs[3]
			}
			if file == "shards" && (len(segs) != 4 || !strings.HasSuffix(shard, ".msgpack.zst")) || file != "shards" && len(segs) == 4 {
				s.fail(w, c, notFound("not a shard (NAME/SUBDIR/shards/SHA256.msgpack.zst)"))
				return
			}
			s.serveShards(w, r, c, subdir, shard)
			return
		}
		s.fail(w, c, notFound("not a channel file (NAME/SUBDIR/FILE)"))
		return
	}
	switch file {
	case "repodata.json", "repodata.json.zst", "current_repodata.json":
		w.route = routeRepodata
		s.serveRepodata(w, r, c, subdir, file)
		return
	}
	if _, _, err := condapkg.ParseFilename(file); err == nil && client.CheckFilename(file) == nil {
		w.route = routePackage
		s.servePackage(w, r, c, subdir, file)
		return
	}
	if fn, ok := strings.CutSuffix(file, ".sig"); ok && c.legacy != nil {
		if _, _, err := condapkg.ParseFilename(fn); err == nil && client.CheckFilename(fn) == nil {
			w.route = routePackage
			s.serveLegacySig(w, r, c, subdir, fn)
			return
		}
	}
	s.fail(w, c, notFound("%s is not served by this proxy: only verified repodata, packages and signing metadata are", file))
}

// serveMetadata answers NAME/N.root.json and NAME/key_mgr.json from the
// trust store: only what was verified.
func (s *Server) serveMetadata(w *respWriter, r *http.Request, c *channel, file string) {
	if c.legacy != nil {
		s.fail(w, c, notFound("%s: %s is a legacy conda sign channel, with no content-trust metadata", file, c.name))
		return
	}
	if file != "key_mgr.json" && !rootFileRE.MatchString(file) {
		s.fail(w, c, notFound("%s is not served by this proxy: only verified repodata, packages and signing metadata are", file))
		return
	}
	tv, err := c.trust(r.Context())
	if err != nil {
		s.fail(w, c, err)
		return
	}
	data, err := os.ReadFile(filepath.Join(tv.state.Channel.Dir, file))
	if errors.Is(err, os.ErrNotExist) {
		s.fail(w, c, notFound("%s: no such verified metadata", file))
		return
	}
	if err != nil {
		s.fail(w, c, err)
		return
	}
	if file == "key_mgr.json" {
		// The file in the store may be newer than the verified state only
		// if another process updated it; serve it only if it is the
		// verified one.
		km, perr := trust.ParseMetadata(data, trust.RoleKeyMgr)
		if perr != nil || km.Version != tv.state.KeyMgr.Version {
			s.fail(w, c, &httpError{status: http.StatusServiceUnavailable, msg: "key_mgr.json is being updated; retry"})
			return
		}
	}
	st, _ := os.Stat(filepath.Join(tv.state.Channel.Dir, file))
	mod := time.Time{}
	if st != nil {
		mod = st.ModTime()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, file, mod, strings.NewReader(string(data)))
}

func (s *Server) notReady() string {
	var why []string
	now := s.cfg.Now()
	for _, c := range s.order {
		if c.legacy != nil {
			continue
		}
		c.mu.Lock()
		switch {
		case c.refused != nil:
			why = append(why, c.name+": "+c.refused.Error())
		case c.tv == nil:
			why = append(why, c.name+": trust not loaded yet")
		case c.tv.expired(now):
			why = append(why, c.name+": trust metadata expired")
		}
		c.mu.Unlock()
	}
	return strings.Join(why, "; ")
}

// respWriter records the status and body size for the metrics.
type respWriter struct {
	http.ResponseWriter
	code    int
	n       int64
	route   string
	written bool
}

func (w *respWriter) WriteHeader(code int) {
	if !w.written {
		w.code, w.written = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	w.written = true
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// ReadFrom lets http.ServeContent reach the server's own io.ReaderFrom
// (sendfile from an *os.File, its pooled buffer otherwise): without it,
// the embedded interface hides it and every response is copied through a
// new 32 KiB buffer. The bytes are counted as Write counts them.
func (w *respWriter) ReadFrom(r io.Reader) (int64, error) {
	w.written = true
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, r)
	}
	w.n += n
	return n, err
}

// writerOnly hides every method but Write, so io.Copy does not call
// ReadFrom again.
type writerOnly struct{ io.Writer }

// Unwrap lets http.ResponseController reach the connection.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/client/clienttest"
	"github.com/condatrust/condatrust/internal/synth"
	"github.com/condatrust/condatrust/repodata"
)

// The load test of issue 11: 200 concurrent clients for 60 seconds
// (CONDATRUST_LOAD_SECONDS; skipped with -short) against a real Serve on
// 127.0.0.1, mixing repodata (repodata.json, .zst, If-None-Match) and
// packages (several, some cached and some not, whole and Range), while
// the upstream re-signs changed records and adds packages every few
// seconds. Every answer must have the expected status and every byte must
// be right: each package body's sha256 is the signed record's, and each
// distinct repodata document served is verified in full with a verifier
// built from the channel's root and key_mgr, independently of the proxy.

const (
	loadClients    = 200
	loadSynthetic  = 1000            // signed records of linux-64 with no file
	loadHot        = 6               // packages most requests go to
	loadChangeEach = 3 * time.Second // the upstream publishes a new version
)

var loadSubdirs = []string{"linux-64", "noarch"}

func loadDuration(t *testing.T) time.Duration {
	s := os.Getenv("CONDATRUST_LOAD_SECONDS")
	if s == "" {
		return 60 * time.Second
	}
	sec, err := strconv.ParseFloat(s, 64)
	if err != nil || sec <= 0 {
		t.Fatalf("CONDATRUST_LOAD_SECONDS=%q: want a positive number of seconds", s)
	}
	return time.Duration(sec * float64(time.Second))
}

// loadPkg is a package of the channel and what its bytes must be.
type loadPkg struct {
	sub, fn string
	data    []byte
	sha256  string // from the signed record
}

// loadState is what the clients share.
type loadState struct {
	t        *testing.T
	base     string // the proxy's channel URL
	hc       *http.Client
	verifier *repodata.Verifier
	initial  []*loadPkg // never removed: every document must hold them
	pkgs     atomic.Pointer[[]*loadPkg]

	docs sync.Map // sha256 of a served body -> *docCheck
	zdec *zstd.Decoder

	requests, errs, wrong atomic.Int64
	docsVerified          atomic.Int64
	errMu                 sync.Mutex
	errList               []string
}

// docCheck verifies one distinct body once; other clients that got the
// same bytes wait for the verdict.
type docCheck struct {
	once sync.Once
	err  error
}

func (s *loadState) fail(wrongBytes bool, format string, args ...any) {
	if wrongBytes {
		s.wrong.Add(1)
	} else {
		s.errs.Add(1)
	}
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if len(s.errList) < 20 {
		s.errList = append(s.errList, fmt.Sprintf(format, args...))
	}
}

// checkDoc verifies a served repodata.json (plain bytes) of sub in full,
// once per distinct body: it parses, every record is trusted by the
// channel's pkg_mgr keys, it holds every initial package of sub, and the
// record of every package it holds names the package's sha256.
func (s *loadState) checkDoc(sub string, body []byte) error {
	sum := sha256.Sum256(body)
	dc, _ := s.docs.LoadOrStore(sub+hex.EncodeToString(sum[:]), &docCheck{})
	c := dc.(*docCheck)
	c.once.Do(func() {
		s.docsVerified.Add(1)
		f, err := repodata.Parse(body)
		if err != nil {
			c.err = err
			return
		}
		v := *s.verifier
		v.Subdir, v.Workers = sub, 1
		rep, err := v.Verify(f)
		if err != nil {
			c.err = err
			return
		}
		if rep.Untrusted+rep.Unsigned != 0 || rep.Trusted != f.Len() || f.Len() == 0 {
			c.err = fmt.Errorf("%d trusted, %d untrusted, %d unsigned of %d records", rep.Trusted, rep.Untrusted, rep.Unsigned, f.Len())
			return
		}
		for _, p := range *s.pkgs.Load() {
			if p.sub != sub {
				continue
			}
			if _, ok := f.Record(p.fn); !ok {
				if slices.Contains(s.initial, p) {
					c.err = fmt.Errorf("%s is missing", p.fn)
					return
				}
				continue
			}
			pkg, err := v.VerifyPackageRecord(f, sub, p.fn)
			if err != nil {
				c.err = err
				return
			}
			if hex.EncodeToString(pkg.Expect.SHA256) != p.sha256 {
				c.err = fmt.Errorf("the record of %s names sha256 %x, not %s", p.fn, pkg.Expect.SHA256, p.sha256)
				return
			}
		}
	})
	return c.err
}

// latencies are one client's request durations by route.
type latencies map[string][]time.Duration

// client runs one client's loop until ctx is done.
func (s *loadState) client(ctx context.Context, id int, lat latencies) {
	rng := rand.New(rand.NewPCG(uint64(id), 11))
	etags := map[string]string{}
	for ctx.Err() == nil {
		sub := loadSubdirs[rng.IntN(len(loadSubdirs))]
		pkgs := *s.pkgs.Load()
		var p *loadPkg
		if rng.IntN(4) > 0 {
			p = pkgs[rng.IntN(loadHot)]
		} else {
			p = pkgs[rng.IntN(len(pkgs))]
		}
		var route string
		start := time.Now()
		switch op := rng.IntN(100); {
		case op < 10:
			route = s.repodata(ctx, sub, "repodata.json", "", etags)
		case op < 25:
			route = s.repodata(ctx, sub, "repodata.json", etags[sub+"/repodata.json"], etags)
		case op < 35:
			route = s.repodata(ctx, sub, "repodata.json.zst", etags[sub+"/repodata.json.zst"], etags)
		case op < 85:
			route = s.pkg(ctx, p, rng, false)
		default:
			route = s.pkg(ctx, p, rng, true)
		}
		if route != "" {
			lat[route] = append(lat[route], time.Since(start))
		}
		// Think time: 0-50 ms.
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(rng.IntN(50)) * time.Millisecond):
		}
	}
}

// do sends one request; "" with ctx done (the run is over, not an
// error).
func (s *loadState) do(ctx context.Context, path string, hdr ...string) (*http.Response, []byte, bool) {
	s.requests.Add(1)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] != "" {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			s.fail(false, "GET %s: %v", path, err)
		} else {
			s.requests.Add(-1)
		}
		return nil, nil, false
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		if ctx.Err() == nil {
			s.fail(false, "GET %s: reading: %v", path, err)
		} else {
			s.requests.Add(-1)
		}
		return nil, nil, false
	}
	return resp, body, true
}

func (s *loadState) repodata(ctx context.Context, sub, file, inm string, etags map[string]string) string {
	path := "/" + sub + "/" + file
	resp, body, ok := s.do(ctx, path, "If-None-Match", inm)
	if !ok {
		return ""
	}
	route := "repodata"
	if file != "repodata.json" {
		route = "repodata.zst"
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && inm != "":
		return route + " 304"
	case resp.StatusCode != http.StatusOK:
		s.fail(false, "GET %s (If-None-Match %q): %d %.200s", path, inm, resp.StatusCode, body)
		return ""
	}
	etags[sub+"/"+file] = resp.Header.Get("ETag")
	plain := body
	if file != "repodata.json" {
		var err error
		if plain, err = s.zdec.DecodeAll(body, nil); err != nil {
			s.fail(true, "GET %s: not zstd: %v", path, err)
			return ""
		}
	}
	if err := s.checkDoc(sub, plain); err != nil {
		s.fail(true, "GET %s: the served document does not verify: %v", path, err)
		return ""
	}
	return route
}

func (s *loadState) pkg(ctx context.Context, p *loadPkg, rng *rand.Rand, ranged bool) string {
	path := "/" + p.sub + "/" + p.fn
	if ranged {
		lo := rng.IntN(len(p.data))
		hi := min(len(p.data), lo+1+rng.IntN(64<<10))
		resp, body, ok := s.do(ctx, path, "Range", fmt.Sprintf("bytes=%d-%d", lo, hi-1))
		if !ok {
			return ""
		}
		if resp.StatusCode != http.StatusPartialContent {
			s.fail(false, "GET %s (Range): %d %.200s", path, resp.StatusCode, body)
			return ""
		}
		if !bytes.Equal(body, p.data[lo:hi]) {
			s.fail(true, "GET %s (Range %d-%d): wrong bytes", path, lo, hi-1)
			return ""
		}
		return "package range"
	}
	resp, body, ok := s.do(ctx, path)
	if !ok {
		return ""
	}
	if resp.StatusCode != http.StatusOK {
		s.fail(false, "GET %s: %d %.200s", path, resp.StatusCode, body)
		return ""
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != p.sha256 {
		s.fail(true, "GET %s: sha256 %x, the signed record says %s (%d bytes)", path, sum, p.sha256, len(body))
		return ""
	}
	return "package " + resp.Header.Get("X-Conda-Trust-Cache")
}

// addLoadPackage adds a package of a size between 16 KiB and 2 MiB.
func addLoadPackage(t *testing.T, ch *clienttest.Channel, sub string, i int) *loadPkg {
	sizes := []int{16 << 10, 48 << 10, 200 << 10, 700 << 10, 2 << 20}
	fn, data := addRandomPackage(t, ch, sub, "load"+strconv.Itoa(i), "1."+strconv.Itoa(i), sizes[i%len(sizes)]+i*97, uint64(1000+i))
	sha, _ := ch.Record(sub, fn).Get("sha256")
	return &loadPkg{sub: sub, fn: fn, data: data, sha256: sha.Str()}
}

func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("the load test runs 60 s (CONDATRUST_LOAD_SECONDS); skipped with -short")
	}
	dur := loadDuration(t)

	ch := clienttest.New()
	ch.ServeZstd(true)
	for i := range loadSynthetic {
		fn, rec := synth.Record(i, "")
		v, err := canonjson.Parse(rec)
		if err != nil {
			t.Fatal(err)
		}
		ch.SetRecord("linux-64", fn, v)
		ch.Sign("linux-64", fn, "pkg_mgr")
	}
	var pkgs []*loadPkg
	for i := range 24 {
		pkgs = append(pkgs, addLoadPackage(t, ch, loadSubdirs[i%2], i))
	}
	var total int64
	for _, p := range pkgs {
		total += int64(len(p.data))
	}
	up := newSnapshotUpstream(t, ch)
	logs := &syncBuffer{}
	p := serveLive(t, Config{
		Channels: []Channel{{Name: "main", URL: up.srv.URL}},
		TrustDir: pinStore(t, ch, up.srv.URL), CacheDir: t.TempDir(),
		// About half of the packages fit: the others are evicted and
		// downloaded again (cold), the hot ones stay (warm).
		CacheMax: total / 2,
		Refresh:  time.Second,
		Logger:   slog.New(slog.NewJSONHandler(logs, nil)),
	})
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 2 * loadClients, MaxIdleConnsPerHost: 2 * loadClients, DisableCompression: true,
	}}
	zdec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(2))
	if err != nil {
		t.Fatal(err)
	}
	defer zdec.Close()
	s := &loadState{t: t, base: p.base + "/main", hc: hc, initial: slices.Clone(pkgs), zdec: zdec,
		verifier: channelVerifier(t, ch, time.Now())}
	s.pkgs.Store(&pkgs)
	for _, sub := range loadSubdirs {
		getAll(t, hc, s.base+"/"+sub+"/repodata.json", 200)
	}

	// Memory: the Go heap and what the runtime holds from the OS, sampled.
	var heapPeak, sysPeak atomic.Uint64
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > heapPeak.Load() {
			heapPeak.Store(ms.HeapInuse)
		}
		if ms.Sys > sysPeak.Load() {
			sysPeak.Store(ms.Sys)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var bg sync.WaitGroup
	bg.Add(2)
	go func() {
		defer bg.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	// The upstream: every few seconds, 1% of the synthetic records change
	// (re-signed) and a package is added; the new package is requested
	// once the proxy serves its record.
	var versions, changed atomic.Int64
	go func() {
		defer bg.Done()
		rng := rand.New(rand.NewPCG(7, 7))
		for i := len(pkgs); ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(loadChangeEach):
			}
			for range loadSynthetic / 100 {
				fn, _ := synth.Record(rng.IntN(loadSynthetic), "")
				ch.EditRecord("linux-64", fn, "timestamp", canonjson.NewInt(time.Now().UnixNano()))
				ch.Sign("linux-64", fn, "pkg_mgr")
				changed.Add(1)
			}
			np := addLoadPackage(t, ch, loadSubdirs[i%2], i)
			up.publish(ch)
			versions.Add(1)
			for ctx.Err() == nil {
				_, body, ok := s.do(ctx, "/"+np.sub+"/repodata.json")
				if ok && bytes.Contains(body, []byte(np.fn)) {
					next := append(slices.Clone(*s.pkgs.Load()), np)
					s.pkgs.Store(&next)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()

	start := time.Now()
	all := make([]latencies, loadClients)
	var wg sync.WaitGroup
	for i := range loadClients {
		all[i] = latencies{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.client(ctx, i, all[i])
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	bg.Wait()
	sample()
	if err := p.stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}

	merged := latencies{}
	for _, l := range all {
		for r, d := range l {
			merged[r] = append(merged[r], d...)
		}
	}
	routes := make([]string, 0, len(merged))
	for r := range merged {
		routes = append(routes, r)
	}
	slices.Sort(routes)
	pct := func(d []time.Duration, q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	var summary []string
	for _, r := range routes {
		d := merged[r]
		slices.Sort(d)
		t.Logf("%-16s %7d requests  p50 %8v  p99 %8v  max %8v", r, len(d), pct(d, 0.50).Round(10*time.Microsecond),
			pct(d, 0.99).Round(10*time.Microsecond), d[len(d)-1].Round(time.Millisecond))
		summary = append(summary, fmt.Sprintf("%s p50/p99 %v/%v", r, pct(d, 0.50).Round(100*time.Microsecond), pct(d, 0.99).Round(100*time.Microsecond)))
	}
	st := p.srv.pkgs.Stats()
	t.Logf("cache: %d hits, %d misses, %d downloads, %d evictions; upstream: %d versions published (%d records re-signed, %d packages added), %d requests",
		st.Hits, st.Misses, st.Downloads, st.Evictions, versions.Load(), changed.Load(), len(*s.pkgs.Load())-len(pkgs), up.requests.Load())
	t.Logf("repodata documents verified in full by the clients: %d distinct", s.docsVerified.Load())
	t.Logf("memory: peak HeapInuse %.1f MB, peak Sys %.1f MB (sampled every 250 ms; the clients and the upstream are in the same process)",
		float64(heapPeak.Load())/(1<<20), float64(sysPeak.Load())/(1<<20))
	line := fmt.Sprintf("load: %d clients, %v, %d requests (%.0f/s), %d errors, %d wrong bytes, peak heap %.0f MB, sys %.0f MB; %s",
		loadClients, elapsed.Round(time.Second), s.requests.Load(), float64(s.requests.Load())/elapsed.Seconds(), s.errs.Load(), s.wrong.Load(),
		float64(heapPeak.Load())/(1<<20), float64(sysPeak.Load())/(1<<20), strings.Join(summary, ", "))
	t.Log(line)
	fmt.Println(line)

	for _, e := range s.errList {
		t.Error(e)
	}
	if s.errs.Load() != 0 || s.wrong.Load() != 0 {
		t.Errorf("%d errors, %d wrong bytes", s.errs.Load(), s.wrong.Load())
	}
	if versions.Load() > 0 && len(*s.pkgs.Load()) == len(pkgs) {
		t.Error("no package added upstream reached the clients")
	}
	if st.Hits == 0 || st.Downloads <= int64(len(pkgs)) {
		t.Errorf("the run did not mix warm and cold packages: %+v", st)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("proxy log: %s", line)
		}
	}
}

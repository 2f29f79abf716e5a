package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/client/clienttest"
	"github.com/condatrust/condatrust/internal/memstat"
	"github.com/condatrust/condatrust/internal/synth"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// The benchmarks of issue 11, each measured side by side with its
// baseline in one run (figures in docs/performance.md):
//
//   - BenchmarkWarmPackage: packages from the warm cache, proxy against
//     net/http.FileServer serving the same files (target >= 80%);
//   - BenchmarkColdPackage: a package not cached, proxy against a plain
//     download from the same upstream (target <= 1.25x);
//   - BenchmarkRepodata: a 300,000-record repodata, the proxy's first
//     verification against verify-repodata's Open+Verify (target <=
//     1.25x), a refresh after 1% of the records changed against the first
//     (target >= 20x faster), and peak memory (target <= 3x the file).
//
// Everything runs on loopback: the proxy through Serve, the upstream and
// the file server as httptest servers in the same process.

// snapshotUpstream is a loopback upstream serving a snapshot of a
// clienttest channel's files, taken by publish: clienttest renders the
// repodata at every request, too slow to stand behind a load test. It
// answers If-None-Match on repodata with the ETag it gives, and can pace
// its bodies to a bandwidth.
type snapshotUpstream struct {
	snap     atomic.Pointer[upstreamSnapshot]
	rate     int64 // bytes per second; 0: as fast as loopback goes
	srv      *httptest.Server
	requests atomic.Int64
}

type upstreamSnapshot struct {
	files map[string][]byte
	etags map[string]string
}

func newSnapshotUpstream(tb testing.TB, ch *clienttest.Channel) *snapshotUpstream {
	u := &snapshotUpstream{}
	u.publish(ch)
	u.srv = httptest.NewServer(u)
	tb.Cleanup(u.srv.Close)
	return u
}

// publish makes the channel's current files what the upstream serves.
func (u *snapshotUpstream) publish(ch *clienttest.Channel) {
	s := &upstreamSnapshot{files: ch.Files(), etags: map[string]string{}}
	for p, data := range s.files {
		if strings.Contains(p, "repodata") {
			sum := sha256.Sum256(data)
			s.etags[p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		}
	}
	u.snap.Store(s)
}

func (u *snapshotUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.requests.Add(1)
	s := u.snap.Load()
	p := strings.TrimPrefix(r.URL.Path, "/")
	data, ok := s.files[p]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if etag := s.etags[p]; etag != "" {
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method == http.MethodHead {
		return
	}
	writePaced(w, bytes.NewReader(data), u.rate)
}

// writePaced copies r to w, at most rate bytes per second when rate > 0.
func writePaced(w io.Writer, r io.Reader, rate int64) {
	if rate <= 0 {
		io.Copy(w, r)
		return
	}
	start := time.Now()
	buf := make([]byte, 64<<10)
	var sent int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			sent += int64(n)
			if d := time.Duration(sent*int64(time.Second)/rate) - time.Since(start); d > 0 {
				time.Sleep(d)
			}
		}
		if err != nil {
			return
		}
	}
}

// addRandomPackage adds a package of size random bytes (seeded) with a
// record naming it, signed by the pkg_mgr key; it returns the file name
// and the bytes. The proxy checks size, sha256 and md5 only, so the bytes
// need not be a real archive.
func addRandomPackage(tb testing.TB, ch *clienttest.Channel, sub, name, version string, size int, seed uint64) (string, []byte) {
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24), 'p', 'k', 'g'})
	rng.Read(data)
	build := "h" + strconv.FormatUint(seed, 16) + "_0"
	base, err := canonjson.FromGo(map[string]any{
		"name": name, "version": version, "build": build, "build_number": 0,
		"depends": []string{}, "license": "MIT", "subdir": sub, "timestamp": ch.Now.UnixMilli(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	fn := name + "-" + version + "-" + build + ".conda"
	if err := ch.AddFile(sub, fn, data, base); err != nil {
		tb.Fatal(err)
	}
	return fn, data
}

// pinStore returns a new trust store pinning the channel's root 1 for
// upURL.
func pinStore(tb testing.TB, ch *clienttest.Channel, upURL string) string {
	tb.Helper()
	dir := tb.TempDir()
	store := &client.Store{Dir: dir}
	if _, _, err := store.Add(upURL, "", ch.File("1.root.json"), trust.Options{At: ch.Now}); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// liveProxy is a proxy served by Serve on a loopback port.
type liveProxy struct {
	srv  *Server
	base string // http://127.0.0.1:PORT
	stop func() error
}

// serveLive starts New(cfg).Serve on 127.0.0.1:0; stop (also run at
// cleanup) shuts it down and returns Serve's error.
func serveLive(tb testing.TB, cfg Config) *liveProxy {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	var once sync.Once
	var serr error
	p := &liveProxy{srv: srv, base: "http://" + l.Addr().String()}
	p.stop = func() error {
		once.Do(func() { cancel(); serr = <-done })
		return serr
	}
	tb.Cleanup(func() { p.stop() })
	return p
}

// benchClient is an HTTP client for many parallel loopback requests.
func benchClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, DisableCompression: true, IdleConnTimeout: time.Minute,
	}}
}

// getAll GETs u and reads the body, failing on a status other than want.
func getAll(tb testing.TB, hc *http.Client, u string, want int, hdr ...string) (*http.Response, []byte) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != want {
		tb.Fatalf("GET %s: %d (want %d), %v: %.200s", u, resp.StatusCode, want, err, body)
	}
	return resp, body
}

// drain GETs u and discards the body; it returns the response (body
// closed) and the bytes read.
func drain(hc *http.Client, u string) (*http.Response, int64, error) {
	resp, err := hc.Get(u)
	if err != nil {
		return nil, 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, n, err
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}

// BenchmarkWarmPackage downloads packages already in the proxy's cache,
// from many parallel clients, against http.FileServer serving the same
// files from a folder. Both are loopback servers in this process, read by
// the same client; MB/s is the figure to compare.
func BenchmarkWarmPackage(b *testing.B) {
	for _, size := range []int{64 << 10, 4 << 20} {
		b.Run("size="+sizeName(size), func(b *testing.B) {
			const npkg = 8
			ch := clienttest.New()
			dir := b.TempDir()
			var fns []string
			for i := range npkg {
				fn, data := addRandomPackage(b, ch, "noarch", "warm"+strconv.Itoa(i), "1.0", size, uint64(i+1))
				fns = append(fns, fn)
				os.MkdirAll(filepath.Join(dir, "noarch"), 0o755)
				if err := os.WriteFile(filepath.Join(dir, "noarch", fn), data, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			up := newSnapshotUpstream(b, ch)
			p := serveLive(b, Config{Channels: []Channel{{Name: "main", URL: up.srv.URL}},
				TrustDir: pinStore(b, ch, up.srv.URL), CacheDir: b.TempDir(), Refresh: time.Hour})
			hc := benchClient(64)
			for _, fn := range fns {
				getAll(b, hc, p.base+"/main/noarch/"+fn, 200)
				if resp, _ := getAll(b, hc, p.base+"/main/noarch/"+fn, 200); resp.Header.Get("X-Conda-Trust-Cache") != "hit" {
					b.Fatalf("%s is not served from the cache", fn)
				}
			}
			fsrv := httptest.NewServer(http.FileServer(http.Dir(dir)))
			defer fsrv.Close()
			for _, c := range []struct{ name, base string }{{"proxy", p.base + "/main"}, {"fileserver", fsrv.URL}} {
				b.Run(c.name, func(b *testing.B) {
					b.SetBytes(int64(size))
					b.SetParallelism(8) // 8 clients per core
					var next atomic.Int64
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							u := c.base + "/noarch/" + fns[int(next.Add(1))%npkg]
							resp, n, err := drain(hc, u)
							if err != nil || resp.StatusCode != 200 || n != int64(size) {
								b.Errorf("%s: %v %v, %d bytes", u, err, resp, n)
								return
							}
						}
					})
				})
			}
		})
	}
}

// BenchmarkColdPackage downloads a package that is not in the proxy's
// cache at every iteration (the cache holds one byte: each new package
// evicts the one before, and iterations go round three packages), against
// a plain download of the same package from the same upstream. The proxy
// downloads the whole package, hashes it (sha256 and md5), writes and
// fsyncs it into the cache, and only then serves it; the plain download
// reads the body once. "loopback" is an upstream as fast as this machine;
// "50MBps" paces the upstream to 50 MB/s, closer to a real mirror.
func BenchmarkColdPackage(b *testing.B) {
	const size = 4 << 20
	for _, rate := range []int64{0, 50_000_000} {
		name := "loopback"
		if rate > 0 {
			name = strconv.FormatInt(rate/1_000_000, 10) + "MBps"
		}
		b.Run(name, func(b *testing.B) {
			ch := clienttest.New()
			var fns []string
			for i := range 3 {
				fn, _ := addRandomPackage(b, ch, "noarch", "cold"+strconv.Itoa(i), "1.0", size, uint64(100+i))
				fns = append(fns, fn)
			}
			up := newSnapshotUpstream(b, ch)
			up.rate = rate
			p := serveLive(b, Config{Channels: []Channel{{Name: "main", URL: up.srv.URL}},
				TrustDir: pinStore(b, ch, up.srv.URL), CacheDir: b.TempDir(), CacheMax: 1, Refresh: time.Hour})
			hc := benchClient(4)
			getAll(b, hc, p.base+"/main/noarch/repodata.json", 200)
			// Round the packages across runs too: the next one is never
			// the one cached last.
			next := 0
			for _, c := range []struct{ name, base string }{{"proxy", p.base + "/main"}, {"direct", up.srv.URL}} {
				b.Run(c.name, func(b *testing.B) {
					b.SetBytes(size)
					for b.Loop() {
						u := c.base + "/noarch/" + fns[next%len(fns)]
						next++
						resp, n, err := drain(hc, u)
						if err != nil || resp.StatusCode != 200 || n != size {
							b.Fatalf("%s: %v %v, %d bytes", u, err, resp, n)
						}
						if c.name == "proxy" && resp.Header.Get("X-Conda-Trust-Cache") != "miss" {
							b.Fatalf("%s: cache %q, want a miss", u, resp.Header.Get("X-Conda-Trust-Cache"))
						}
					}
				})
			}
		})
	}
}

// The repodata benchmark: a conda-forge-sized linux-64 repodata
// (CONDATRUST_BENCH_RECORDS records, default 300,000; 0 skips), compact
// as conda-index writes it, signed by the channel's pkg_mgr key, and the
// same with 1% of the records replaced (new file names, new signatures).

const defaultBenchRecords = 300_000

var benchExtraDeps = []string{"libstdcxx-ng >=12", "libgfortran5 >=12.3.0", "libgfortran-ng", "_openmp_mutex >=4.5",
	"libcblas >=3.9.0,<4.0a0", "libopenblas >=0.3.25,<1.0a0", "zstd >=1.5.5,<1.6.0a0", "lz4-c >=1.9.3,<1.10.0a0",
	"libcurl >=8.5.0,<9.0a0", "krb5 >=1.21.2,<1.22.0a0", "packaging >=20.0", "typing_extensions >=4.6"}

// benchRecord is synth.Record with a conda-forge-sized dependency list,
// as repodata's own benchmark builds it (about 700 bytes compact).
func benchRecord(i int, salt string) (string, []byte) {
	fn, rec := synth.Record(i, salt)
	var deps strings.Builder
	for d := range 3 + i%8 {
		fmt.Fprintf(&deps, "%q,", benchExtraDeps[(i+d)%len(benchExtraDeps)])
	}
	return fn, bytes.Replace(rec, []byte(`"depends":[`), []byte(`"depends":[`+deps.String()), 1)
}

// writeBenchRepodata writes an unsigned compact repodata of n records;
// salt(i) varies record i ("" keeps it).
func writeBenchRepodata(path string, n int, salt func(int) string) error {
	type ent struct {
		fn string
		i  int
	}
	ents := make([]ent, n)
	for i := range n {
		fn, _ := benchRecord(i, salt(i))
		ents[i] = ent{fn, i}
	}
	slices.SortFunc(ents, func(a, b ent) int { return strings.Compare(a.fn, b.fn) })
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	w := bufio.NewWriterSize(fh, 1<<20)
	w.WriteString(`{"info":{"subdir":"linux-64"}`)
	for _, sec := range []string{".tar.bz2", ".conda"} {
		name := map[string]string{".tar.bz2": "packages", ".conda": "packages.conda"}[sec]
		w.WriteString(`,"` + name + `":{`)
		first := true
		for _, e := range ents {
			if !strings.HasSuffix(e.fn, sec) {
				continue
			}
			if !first {
				w.WriteByte(',')
			}
			first = false
			_, rec := benchRecord(e.i, salt(e.i))
			w.WriteString(strconv.Quote(e.fn) + ":")
			w.Write(rec)
		}
		w.WriteByte('}')
	}
	w.WriteString(`,"removed":[],"repodata_version":1}`)
	if err := w.Flush(); err != nil {
		return err
	}
	return fh.Close()
}

type repodataFixture struct {
	n      int
	dir    string
	v1, v2 string // signed, compact; v2 has 1% of v1's records replaced
	ch     *clienttest.Channel
	err    error
}

var (
	repodataOnce sync.Once
	repodataFix  repodataFixture
)

// benchRecords reads CONDATRUST_BENCH_RECORDS.
func benchRecords(tb testing.TB) int {
	s := os.Getenv("CONDATRUST_BENCH_RECORDS")
	if s == "" {
		return defaultBenchRecords
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		tb.Fatalf("CONDATRUST_BENCH_RECORDS=%q: want a number of records", s)
	}
	return n
}

// setupRepodata builds the fixture once per process, and keeps it on disk
// (in the system's temp folder, by size) for later runs: generating and
// signing 300,000 records takes a while. The pkg_mgr key is clienttest's,
// derived from a fixed label, so signatures made by an earlier run still
// verify; the root and key_mgr are made anew by each process.
func setupRepodata(b *testing.B) *repodataFixture {
	n := benchRecords(b)
	if n == 0 {
		b.Skip("CONDATRUST_BENCH_RECORDS=0: the repodata benchmark is skipped")
	}
	if n != defaultBenchRecords {
		b.Logf("CONDATRUST_BENCH_RECORDS=%d: these are not the issue's 300,000-record figures", n)
	}
	repodataOnce.Do(func() {
		f := &repodataFix
		f.n, f.ch = n, clienttest.New()
		f.dir = filepath.Join(os.TempDir(), fmt.Sprintf("condatrust-proxy-bench-%d-v1", n))
		f.v1, f.v2 = filepath.Join(f.dir, "v1.json"), filepath.Join(f.dir, "v2.json")
		if _, err := os.Stat(filepath.Join(f.dir, "done")); err == nil {
			return
		}
		f.err = generateRepodata(f)
	})
	if repodataFix.err != nil {
		b.Fatal(repodataFix.err)
	}
	return &repodataFix
}

func generateRepodata(f *repodataFixture) error {
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return err
	}
	key := f.ch.Key("pkg_mgr")
	sign := func(in, out string, prev *repodata.File) error {
		rf, err := repodata.Open(in)
		if err != nil {
			return err
		}
		defer rf.Close()
		_, err = repodata.WriteSigned(out, rf, repodata.SignOptions{Signers: []signer.Signer{key}, Compact: true, Previous: prev})
		return err
	}
	u1, u2 := filepath.Join(f.dir, "v1-unsigned.json"), filepath.Join(f.dir, "v2-unsigned.json")
	if err := writeBenchRepodata(u1, f.n, func(int) string { return "" }); err != nil {
		return err
	}
	if err := writeBenchRepodata(u2, f.n, func(i int) string {
		if i%100 == 0 {
			return "v2"
		}
		return ""
	}); err != nil {
		return err
	}
	if err := sign(u1, f.v1, nil); err != nil {
		return err
	}
	prev, err := repodata.Open(f.v1)
	if err != nil {
		return err
	}
	err = sign(u2, f.v2, prev)
	prev.Close()
	if err != nil {
		return err
	}
	os.Remove(u1)
	os.Remove(u2)
	return os.WriteFile(filepath.Join(f.dir, "done"), nil, 0o644)
}

// fileUpstream serves one file as SUBDIR/repodata.json (which file can
// change), with no validators: every request is a full download, as
// after an upstream change. Everything else is 404 except what the
// channel serves (its trust metadata).
type fileUpstream struct {
	ch   *clienttest.Channel
	path atomic.Pointer[string]
	srv  *httptest.Server
}

func newFileUpstream(tb testing.TB, ch *clienttest.Channel, path string) *fileUpstream {
	u := &fileUpstream{ch: ch}
	u.path.Store(&path)
	u.srv = httptest.NewServer(u)
	tb.Cleanup(u.srv.Close)
	return u
}

func (u *fileUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/linux-64/repodata.json" {
		u.ch.ServeHTTP(w, r)
		return
	}
	fh, err := os.Open(*u.path.Load())
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	defer fh.Close()
	st, _ := fh.Stat()
	w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	io.Copy(w, fh) // sendfile
}

// peakRSS is memstat.PeakRSS (with fresh, as in a process that just
// started).
func peakRSS(fresh bool) func() int64 { return memstat.PeakRSS(fresh) }

// reportPeak reports the largest of the peaks, in MB and relative to the
// size of the file at path.
func reportPeak(b *testing.B, peaks []int64, path string) {
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size())/(1<<20), "file-MB")
	if p := slices.Max(append(peaks, 0)); p > 0 {
		b.ReportMetric(float64(p)/(1<<20), "peak-MB")
		b.ReportMetric(float64(p)/float64(st.Size()), "peak/file")
	}
}

// channelVerifier is a repodata.Verifier for the channel's current
// key_mgr, built as a client would (root 1, key_mgr), independently of
// the proxy.
func channelVerifier(tb testing.TB, ch *clienttest.Channel, at time.Time) *repodata.Verifier {
	tb.Helper()
	root, err := trust.ParseMetadata(ch.File("1.root.json"), trust.RoleRoot)
	if err != nil {
		tb.Fatal(err)
	}
	km, err := trust.ParseMetadata(ch.File("key_mgr.json"), trust.RoleKeyMgr)
	if err != nil {
		tb.Fatal(err)
	}
	chain, err := trust.NewChain(root, trust.Options{At: at})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := chain.EndRoots(); err != nil {
		tb.Fatal(err)
	}
	if _, err := chain.SetKeyMgr(km, nil); err != nil {
		tb.Fatal(err)
	}
	v, err := repodata.NewVerifier(chain)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// firstRepodata times one GET of repodata.json through the proxy up to
// its response headers (the proxy answers only once it has verified the
// whole document), then reads the body untimed and checks the count of
// trusted records the proxy reports.
func firstRepodata(b *testing.B, hc *http.Client, p *liveProxy, n int) {
	b.StartTimer()
	resp, err := hc.Get(p.base + "/main/linux-64/repodata.json")
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("repodata.json: %d %v", resp.StatusCode, err)
	}
	if got, want := resp.Header.Get("X-Conda-Trust-Records"), fmt.Sprintf("trusted=%d dropped=0", n); got != want {
		b.Fatalf("X-Conda-Trust-Records %q, want %q", got, want)
	}
}

// BenchmarkRepodata measures the 300,000-record repodata:
//
//   - verify-repodata: repodata.Open and Verifier.Verify of the signed
//     file, no cache (what `conda-trust verify-repodata` does);
//   - proxy-first: a new proxy with an empty signature cache, time to
//     the first 200 on repodata.json: loopback download, parse, verify,
//     write the trusted document;
//   - proxy-refresh: a proxy that serves the file (its signature cache
//     filled by an earlier process, loaded from disk), after the upstream
//     replaced 1% of the records: time from the next request once Refresh
//     has passed (answered at once with the current view) to the end of
//     the background refresh it starts. The heap the runtime kept from serving the
//     file is not given back to the OS first, as in a running server.
//
// peak-MB is the process's peak resident memory during the timed part
// (and reading the body), peak/file its ratio to the file's size; the
// proxy's view of the file it serves is part of it for proxy-refresh.
func BenchmarkRepodata(b *testing.B) {
	f := setupRepodata(b)
	b.Run("verify-repodata", func(b *testing.B) {
		v := channelVerifier(b, f.ch, time.Now())
		var peaks []int64
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			peak := peakRSS(true)
			b.StartTimer()
			rf, err := repodata.Open(f.v1)
			if err != nil {
				b.Fatal(err)
			}
			rep, err := v.Verify(rf)
			b.StopTimer()
			if err != nil || rep.Trusted != f.n {
				b.Fatalf("%v: %d trusted", err, rep.Trusted)
			}
			rf.Close()
			peaks = append(peaks, peak())
			b.StartTimer()
		}
		b.StopTimer()
		reportPeak(b, peaks, f.v1)
	})

	up := newFileUpstream(b, f.ch, f.v1)
	trustDir := pinStore(b, f.ch, up.srv.URL)
	hc := benchClient(4)
	newCfg := func(cacheDir string, now func() time.Time) Config {
		return Config{Channels: []Channel{{Name: "main", URL: up.srv.URL}}, TrustDir: trustDir, CacheDir: cacheDir,
			Refresh: time.Minute, Now: now}
	}
	b.Run("proxy-first", func(b *testing.B) {
		up.path.Store(&f.v1)
		var peaks []int64
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			p := serveLive(b, newCfg(b.TempDir(), nil))
			peak := peakRSS(true)
			firstRepodata(b, hc, p, f.n)
			peaks = append(peaks, peak())
			if p.srv.sigs.hits.Load() != 0 {
				b.Fatalf("%d signature cache hits: the cache was not empty", p.srv.sigs.hits.Load())
			}
			if err := p.stop(); err != nil {
				b.Fatal(err)
			}
		}
		reportPeak(b, peaks, f.v1)
	})

	// The signature cache a proxy saves after verifying v1.
	warmCache := b.TempDir()
	up.path.Store(&f.v1)
	p := serveLive(b, newCfg(warmCache, nil))
	getAll(b, hc, p.base+"/main/linux-64/repodata.json", 200)
	if err := p.stop(); err != nil {
		b.Fatal(err)
	}
	saved, err := os.ReadFile(filepath.Join(warmCache, "sigcache"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("proxy-refresh", func(b *testing.B) {
		var peaks []int64
		var misses int64
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			dir := b.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "sigcache"), saved, 0o600); err != nil {
				b.Fatal(err)
			}
			clk := &clock{t: time.Now()}
			up.path.Store(&f.v1)
			// What earlier benchmarks left in the heap is given back
			// first: the heap kept is the server's, from serving v1.
			runtime.GC()
			debug.FreeOSMemory()
			p := serveLive(b, newCfg(dir, clk.Now))
			// The body is discarded, never held: the client's memory
			// would count in the peak.
			u := p.base + "/main/linux-64/repodata.json"
			resp, _, err := drain(hc, u)
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("repodata.json: %v %v", resp, err)
			}
			old := resp.Header.Get("ETag")
			up.path.Store(&f.v2)
			clk.Advance(2 * time.Minute)
			before := p.srv.sigs.misses.Load()
			peak := peakRSS(false)
			// The request finding the document due is answered with the
			// current view while the refresh runs in the background: time
			// from it to the end of the refresh, then check that the new
			// document is served.
			b.StartTimer()
			resp, _, err = drain(hc, u)
			p.srv.bg.Wait()
			b.StopTimer()
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("repodata.json: %v %v", resp, err)
			}
			if resp, _, err = drain(hc, u); err != nil || resp.Header.Get("ETag") == old {
				b.Fatal("the refreshed document is not served")
			}
			if got, want := resp.Header.Get("X-Conda-Trust-Records"), fmt.Sprintf("trusted=%d dropped=0", f.n); got != want {
				b.Fatalf("X-Conda-Trust-Records %q, want %q", got, want)
			}
			peaks = append(peaks, peak())
			misses = p.srv.sigs.misses.Load() - before
			if err := p.stop(); err != nil {
				b.Fatal(err)
			}
		}
		if misses != int64(f.n/100) {
			b.Errorf("%d signature cache misses at the refresh, want %d (the changed records)", misses, f.n/100)
		}
		b.ReportMetric(float64(misses), "verified-sigs")
		reportPeak(b, peaks, f.v2)
	})
	up.path.Store(&f.v1)
}

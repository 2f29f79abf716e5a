package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/client/clienttest"
)

// fault is one row of the fault table: an upstream that misbehaves, what
// the proxy must answer, and a repair after which good bytes flow again.
type fault struct {
	name string
	// prepare runs before the proxy first serves the channel.
	prepare func(e *env)
	// noPrime skips the first (good) repodata request.
	noPrime bool
	// inject breaks the upstream and returns the path a client asks for.
	inject func(e *env) string
	status int
	rule   string // X-Conda-Trust-Rule; "" for operational failures
	reason string // in the one-line body
	// refusal and upstream name the counter that must have gone up:
	// refusals{main,refusal} or upstream_errors{main,upstream}.
	refusal, upstream string
	// check asserts anything else (the served repodata, logs).
	check func(t *testing.T, e *env)
	// repair fixes the upstream and returns the path to ask for and the
	// bytes it must serve.
	repair func(e *env) (string, []byte)
}

func TestFaults(t *testing.T) {
	pkgPath := func(e *env) string { return "/main/noarch/" + e.fn }
	goodPkg := func(e *env) (string, []byte) { return pkgPath(e), e.pkg }
	stall := func(e *env, data []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.WriteHeader(200)
			w.Write(data[:len(data)/2])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
	}
	lacks := func(fn string) func(t *testing.T, e *env) {
		return func(t *testing.T, e *env) {
			resp, body := e.get("/main/noarch/repodata.json")
			if resp.StatusCode != 200 {
				t.Fatalf("repodata: %d %s", resp.StatusCode, body)
			}
			if hasRecord(e.served(body), fn) {
				t.Errorf("the served repodata holds the refused record %s", fn)
			}
		}
	}
	logged := func(record, rule string) func(t *testing.T, e *env) {
		return func(t *testing.T, e *env) {
			lacks(record)(t, e)
			for _, line := range strings.Split(e.logs.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "refused" {
					continue
				}
				if m["record"] == record && m["rule"] == rule && m["channel"] == "main" && m["file"] == "noarch/repodata.json" {
					if _, ok := m["key"]; ok {
						return
					}
				}
			}
			t.Errorf("no refusal log line for %s (rule %s):\n%s", record, rule, e.logs.String())
		}
	}
	// loggedKey also checks that the refusal's log line names the key
	// whose signature did not count.
	loggedKey := func(record, rule, label string) func(t *testing.T, e *env) {
		return func(t *testing.T, e *env) {
			logged(record, rule)(t, e)
			want := e.ch.Key(label).Public().String()
			for _, line := range strings.Split(e.logs.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "refused" && m["record"] == record && m["key"] == want {
					return
				}
			}
			t.Errorf("no refusal log line for %s naming key %s:\n%s", record, want, e.logs.String())
		}
	}
	faults := []fault{
		{name: "tampered package", status: 502, rule: "artifact-hash", reason: "refused (artifact-hash)", refusal: "artifact-hash",
			inject: func(e *env) string {
				b := bytes.Clone(e.pkg)
				b[len(b)/2] ^= 1
				e.ch.SetFile("noarch/"+e.fn, b)
				return pkgPath(e)
			},
			repair: func(e *env) (string, []byte) { e.ch.SetFile("noarch/"+e.fn, e.pkg); return goodPkg(e) }},
		{name: "body larger than the record", status: 502, rule: "artifact-hash", reason: "refused (artifact-hash)", refusal: "artifact-hash",
			inject: func(e *env) string {
				e.ch.SetFile("noarch/"+e.fn, append(bytes.Clone(e.pkg), make([]byte, 1<<20)...))
				return pkgPath(e)
			},
			repair: func(e *env) (string, []byte) { e.ch.SetFile("noarch/"+e.fn, e.pkg); return goodPkg(e) }},
		{name: "edited record", status: 403, rule: "threshold", reason: "not signed by a threshold", refusal: "threshold",
			inject: func(e *env) string {
				orig := e.ch.Record("noarch", e.fn)
				e.ch.EditRecord("noarch", e.fn, "depends", canonjson.NewArray(canonjson.MustString("evil")))
				e.restore = func() { e.ch.SetRecord("noarch", e.fn, orig) }
				return pkgPath(e)
			},
			check:  logged("foo-1.0-0.conda", "threshold"),
			repair: func(e *env) (string, []byte) { e.restore(); return goodPkg(e) }},
		{name: "renamed record", status: 403, rule: "record-mismatch", reason: "refused (record-mismatch)", refusal: "record-mismatch",
			inject: func(e *env) string {
				evil := "foo-3.0-0.conda"
				e.ch.SetRecord("noarch", evil, e.ch.Record("noarch", e.fn))
				e.ch.Sign("noarch", evil, "pkg_mgr")
				e.ch.SetFile("noarch/"+evil, e.pkg)
				return "/main/noarch/" + evil
			},
			check: logged("foo-3.0-0.conda", "record-mismatch"),
			repair: func(e *env) (string, []byte) {
				fn := e.ch.AddPackage("noarch", "foo", "3.0", "0")
				return "/main/noarch/" + fn, e.ch.File("noarch/" + fn)
			}},
		{name: "moved record", status: 403, rule: "record-mismatch", reason: "refused (record-mismatch)", refusal: "record-mismatch",
			inject: func(e *env) string {
				moved := "foo-1.0-0.tar.bz2"
				top := map[string]json.RawMessage{}
				json.Unmarshal(e.ch.Repodata("noarch"), &top)
				sec := map[string]map[string]json.RawMessage{}
				for _, k := range []string{"packages", "packages.conda", "signatures"} {
					m := map[string]json.RawMessage{}
					json.Unmarshal(top[k], &m)
					sec[k] = m
				}
				// The .conda record and its signatures filed under a
				// .tar.bz2 name in packages.conda.
				sec["packages.conda"][moved], sec["signatures"][moved] = sec["packages.conda"][e.fn], sec["signatures"][e.fn]
				delete(sec["packages.conda"], e.fn)
				delete(sec["signatures"], e.fn)
				for k, m := range sec {
					top[k], _ = json.Marshal(m)
				}
				out, _ := json.Marshal(top)
				e.ch.SetFile("noarch/repodata.json", out)
				e.ch.SetFile("noarch/"+moved, e.pkg)
				return "/main/noarch/" + moved
			},
			check:  logged("foo-1.0-0.tar.bz2", "record-mismatch"),
			repair: func(e *env) (string, []byte) { e.ch.SetFile("noarch/repodata.json", nil); return goodPkg(e) }},
		{name: "unsigned record", status: 403, rule: "unsigned", reason: "refused (unsigned)", refusal: "unsigned",
			inject: func(e *env) string { e.ch.RemoveSignatures("noarch", e.fn); return pkgPath(e) },
			check:  logged("foo-1.0-0.conda", "unsigned"),
			repair: func(e *env) (string, []byte) { e.ch.Sign("noarch", e.fn, "pkg_mgr"); return goodPkg(e) }},
		{name: "undelegated key", status: 403, rule: "threshold", reason: "refused (threshold)", refusal: "threshold",
			inject: func(e *env) string { e.ch.Sign("noarch", e.fn, "attacker"); return pkgPath(e) },
			check:  loggedKey("foo-1.0-0.conda", "threshold", "attacker"),
			repair: func(e *env) (string, []byte) { e.ch.Sign("noarch", e.fn, "pkg_mgr"); return goodPkg(e) }},
		{name: "key_mgr rollback", status: 502, rule: "rollback", reason: "trust metadata refused", refusal: "rollback",
			prepare: func(e *env) { e.ch.SetFile("key_mgr.json", e.ch.KeyMgr(clienttest.KeyMgrSpec{Version: 2})) },
			inject: func(e *env) string {
				e.ch.SetFile("key_mgr.json", e.ch.KeyMgr(clienttest.KeyMgrSpec{Version: 1}))
				return "/main/noarch/repodata.json"
			},
			check: notReady,
			repair: func(e *env) (string, []byte) {
				e.ch.SetFile("key_mgr.json", e.ch.KeyMgr(clienttest.KeyMgrSpec{Version: 2}))
				return goodPkg(e)
			}},
		{name: "skipped root version", status: 502, rule: "version", reason: "trust metadata refused", refusal: "version",
			inject: func(e *env) string {
				e.ch.SetFile("2.root.json", e.ch.Root(clienttest.RootSpec{Version: 3}))
				return pkgPath(e)
			},
			check:  notReady,
			repair: func(e *env) (string, []byte) { e.ch.SetFile("2.root.json", nil); return goodPkg(e) }},
		{name: "expired metadata", status: 502, rule: "expired", reason: "trust metadata refused", refusal: "expired",
			inject: func(e *env) string {
				e.ch.SetFile("key_mgr.json", e.ch.KeyMgr(clienttest.KeyMgrSpec{Version: 2, Expires: e.ch.Now.Add(30 * time.Second)}))
				return "/main/noarch/repodata.json"
			},
			check: notReady,
			repair: func(e *env) (string, []byte) {
				e.ch.SetFile("key_mgr.json", e.ch.KeyMgr(clienttest.KeyMgrSpec{Version: 3}))
				return goodPkg(e)
			}},
		{name: "stall", status: 504, reason: "stalled", upstream: "timeout",
			inject: func(e *env) string { e.ch.Handle("noarch/"+e.fn, stall(e, e.pkg)); return pkgPath(e) },
			repair: func(e *env) (string, []byte) { e.ch.Handle("noarch/"+e.fn, nil); return goodPkg(e) }},
		{name: "stall on repodata, no verified copy", noPrime: true, status: 504, reason: "stalled", upstream: "timeout",
			inject: func(e *env) string {
				e.ch.Handle("noarch/repodata.json", stall(e, e.ch.Repodata("noarch")))
				return "/main/noarch/repodata.json"
			},
			repair: func(e *env) (string, []byte) { e.ch.Handle("noarch/repodata.json", nil); return goodPkg(e) }},
		{name: "reset mid-body", status: 502, reason: "fetching foo-1.0-0.conda: reading", upstream: "network",
			inject: func(e *env) string {
				e.ch.Handle("noarch/"+e.fn, func(w http.ResponseWriter, r *http.Request) {
					conn, buf, err := w.(http.Hijacker).Hijack()
					if err != nil {
						return
					}
					fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(e.pkg))
					buf.Write(e.pkg[:len(e.pkg)/2])
					buf.Flush()
					if tc, ok := conn.(*net.TCPConn); ok {
						tc.SetLinger(0)
					}
					conn.Close()
				})
				return pkgPath(e)
			},
			repair: func(e *env) (string, []byte) { e.ch.Handle("noarch/"+e.fn, nil); return goodPkg(e) }},
		{name: "HTTP 5xx", status: 502, reason: "HTTP 503", upstream: "http-5xx",
			inject: func(e *env) string {
				e.ch.Handle("noarch/"+e.fn, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", 503) })
				return pkgPath(e)
			},
			repair: func(e *env) (string, []byte) { e.ch.Handle("noarch/"+e.fn, nil); return goodPkg(e) }},
		{name: "redirect to another host", status: 502, reason: "another host", upstream: "redirect",
			inject: func(e *env) string {
				other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(e.pkg) }))
				e.t.Cleanup(other.Close)
				e.ch.Handle("noarch/"+e.fn, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
				})
				return pkgPath(e)
			},
			repair: func(e *env) (string, []byte) { e.ch.Handle("noarch/"+e.fn, nil); return goodPkg(e) }},
		{name: "upstream shards holding an unsigned record", status: 404, reason: "not a shard of the verified repodata",
			inject: func(e *env) string {
				evil := e.ch.AddPackage("noarch", "evil", "1.0", "0")
				e.ch.RemoveSignatures("noarch", evil)
				e.ch.SetFile("noarch/repodata_shards.msgpack.zst", clienttest.Zstd([]byte("evil index")))
				e.ch.SetFile("noarch/shards/0123abcd.msgpack.zst", clienttest.Zstd([]byte("evil shard")))
				return "/main/noarch/shards/0123abcd.msgpack.zst"
			},
			check: func(t *testing.T, e *env) {
				// The index served is the proxy's own, built from the
				// verified records: the unsigned one is not in any shard.
				names := servedShardNames(t, e, "noarch")
				if len(names) == 0 || slices.Contains(names, "evil") {
					t.Errorf("shards served for %v", names)
				}
				logged("evil-1.0-0.conda", "unsigned")(t, e)
				if resp, _ := e.get("/main/noarch/evil-1.0-0.conda"); resp.StatusCode != 403 || resp.Header.Get("X-Conda-Trust-Rule") != "unsigned" {
					t.Errorf("the unsigned package: %d %q", resp.StatusCode, resp.Header.Get("X-Conda-Trust-Rule"))
				}
				for _, p := range []string{"noarch/repodata_shards.msgpack.zst", "noarch/shards/0123abcd.msgpack.zst", "noarch/evil-1.0-0.conda"} {
					if n := e.upstreamRequests(p); n != 0 {
						t.Errorf("the upstream was asked for %s", p)
					}
				}
				if n := counter(t, e.srv.m.requests, routeShards, "404"); n != 1 {
					t.Errorf("requests{shards,404} = %v", n)
				}
			},
			repair: func(e *env) (string, []byte) {
				e.ch.Sign("noarch", "evil-1.0-0.conda", "pkg_mgr")
				return "/main/noarch/evil-1.0-0.conda", e.ch.File("noarch/evil-1.0-0.conda")
			}},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if f.prepare != nil {
				f.prepare(e)
			}
			if !f.noPrime {
				if resp, body := e.get("/main/noarch/repodata.json"); resp.StatusCode != 200 {
					t.Fatalf("before the fault: %d %s", resp.StatusCode, body)
				}
			}
			path := f.inject(e)
			e.next()
			resp, body := e.get(path)
			if resp.StatusCode != f.status {
				t.Errorf("status %d, want %d (%s)", resp.StatusCode, f.status, body)
			}
			if got := resp.Header.Get("X-Conda-Trust-Rule"); got != f.rule {
				t.Errorf("rule %q, want %q", got, f.rule)
			}
			if !bytes.Contains(body, []byte(f.reason)) || bytes.Count(body, []byte("\n")) != 1 || !bytes.HasPrefix(body, []byte("conda-trust proxy: ")) {
				t.Errorf("body %q: want one line saying %q", body, f.reason)
			}
			if f.refusal != "" {
				if n := counter(t, e.srv.m.refusals, "main", f.refusal); n < 1 {
					t.Errorf("refusals{main,%s} = %v", f.refusal, n)
				}
			}
			if f.upstream != "" {
				if n := counter(t, e.srv.m.upstreamErrors, "main", f.upstream); n < 1 {
					t.Errorf("upstream_errors{main,%s} = %v", f.upstream, n)
				}
			}
			if st := e.srv.pkgs.Stats(); st.Entries != 0 {
				t.Errorf("the package cache holds %d entries after the fault", st.Entries)
			}
			if f.check != nil {
				f.check(t, e)
			}
			path, want := f.repair(e)
			e.next()
			resp, body = e.get(path)
			if resp.StatusCode != 200 || !bytes.Equal(body, want) {
				t.Errorf("after the repair: %d (%d bytes, want %d): %.200s", resp.StatusCode, len(body), len(want), body)
			}
			if resp, _ := e.get("/healthz"); resp.StatusCode != 200 {
				t.Errorf("healthz after the repair: %d", resp.StatusCode)
			}
			// The cache holds the good bytes only.
			resp, body = e.get(path)
			if resp.Header.Get("X-Conda-Trust-Cache") != "hit" || !bytes.Equal(body, want) {
				t.Errorf("second request after the repair: cache %q", resp.Header.Get("X-Conda-Trust-Cache"))
			}
		})
	}
}

func notReady(t *testing.T, e *env) {
	if resp, body := e.get("/healthz"); resp.StatusCode != 503 {
		t.Errorf("healthz during a trust refusal: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.get("/main/noarch/" + e.fn); resp.StatusCode != 502 {
		t.Errorf("a package during a trust refusal: %d", resp.StatusCode)
	}
}

// A trust refusal found through one subdir closes the whole channel at
// once, not only after each subdir's own refresh.
func TestTrustRefusalClosesChannel(t *testing.T) {
	e := newEnv(t)
	e.ch.AddPackage("linux-64", "bar", "1.0", "0")
	for _, p := range []string{"/main/noarch/repodata.json", "/main/linux-64/repodata.json"} {
		if resp, body := e.get(p); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	e.ch.SetFile("2.root.json", e.ch.Root(clienttest.RootSpec{Version: 3}))
	e.clock.Advance(e.cfg.Refresh / 2)
	e.srv.channels["main"].mu.Lock()
	e.srv.channels["main"].checked = time.Time{} // the trust is due, the documents are not
	e.srv.channels["main"].mu.Unlock()
	if resp, _ := e.get("/main/1.root.json"); resp.StatusCode != 502 {
		t.Fatalf("metadata during a refusal: %d", resp.StatusCode)
	}
	for _, p := range []string{"/main/noarch/repodata.json", "/main/linux-64/repodata.json", "/main/noarch/" + e.fn} {
		if resp, _ := e.get(p); resp.StatusCode != 502 || resp.Header.Get("X-Conda-Trust-Rule") != "version" {
			t.Errorf("%s during a refusal: %d %q", p, resp.StatusCode, resp.Header.Get("X-Conda-Trust-Rule"))
		}
	}
}

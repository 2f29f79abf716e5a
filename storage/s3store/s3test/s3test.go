// Package s3test starts a real S3 server for tests: versitygw (the Versity
// S3 gateway, github.com/versity/versitygw) serving a temporary folder on
// a free loopback port. Tests that need it skip, with a message saying how
// to install it, only when the versitygw binary is not installed; CI
// (.ci/run) installs it.
package s3test

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/condatrust/condatrust/storage"
	"github.com/condatrust/condatrust/storage/s3store"
)

// Install is the command that installs the server.
const Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Credentials of the test server.
const (
	AccessKey = "condatrust-test"
	SecretKey = "condatrust-test-secret"
)

// Server is a running versitygw.
type Server struct {
	// Endpoint is its URL, http://127.0.0.1:PORT.
	Endpoint string
	// Dir is the folder it serves: each subfolder is a bucket.
	Dir string
	pid int
}

// CPUTime returns the CPU time (user and system) the server has used so
// far, on Linux (from /proc); 0 elsewhere. Benchmarks report it, since on
// a shared machine CPU time varies less than elapsed time.
func (s *Server) CPUTime() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses): state is
	// field 3; utime and stime are fields 14 and 15, in clock ticks
	// (100 per second on Linux).
	rest := string(data)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// Binary returns the path of versitygw: $VERSITYGW, on PATH, or in
// $GOBIN / $GOPATH/bin / ~/go/bin; "" when not installed.
func Binary() string {
	if p := os.Getenv("VERSITYGW"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if d := os.Getenv("GOPATH"); d != "" {
		for _, e := range filepath.SplitList(d) {
			dirs = append(dirs, filepath.Join(e, "bin"))
		}
	}
	if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// Start starts versitygw on a free loopback port over a temporary folder
// and waits until it answers; it is stopped when the test ends. The test
// is skipped when versitygw is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	if Binary() == "" {
		t.Skipf("versitygw is not installed, so the tests against a real S3 server are skipped: run %s (CI does, in .ci/run)", Install)
	}
	srv, stop, err := StartIn(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return srv
}

// StartIn starts versitygw serving dir on a free loopback port, with
// keep-alive connections as S3 and CDNs have them (versitygw closes every
// connection by default), and waits
// until it answers; stop ends it. For callers without a testing.TB
// (testscript commands).
func StartIn(dir string) (srv *Server, stop func(), err error) {
	bin := Binary()
	if bin == "" {
		return nil, nil, fmt.Errorf("versitygw is not installed: run %s", Install)
	}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd := exec.Command(bin, "--access", AccessKey, "--secret", SecretKey, "--port", addr, "--quiet", "--keep-alive", "posix", dir)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		dieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			return nil, nil, fmt.Errorf("starting %s: %v", bin, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if err := waitReady(addr, exited); err != nil {
			cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("%v\n%s", err, out.String())
			continue
		}
		stop := func() {
			cmd.Process.Kill()
			<-exited
		}
		return &Server{Endpoint: "http://" + addr, Dir: dir, pid: cmd.Process.Pid}, stop, nil
	}
	return nil, nil, fmt.Errorf("versitygw did not start: %v", lastErr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls the server until it answers HTTP, for up to 20 s.
func waitReady(addr string, exited <-chan error) error {
	deadline := time.Now().Add(20 * time.Second)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("versitygw exited: %v", err)
		default:
		}
		resp, err := c.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("versitygw did not answer on %s within 20s", addr)
}

// Config returns a client configuration for the server.
func (s *Server) Config() s3store.Config {
	yes := true
	return s3store.Config{Endpoint: s.Endpoint, AccessKey: AccessKey, SecretKey: SecretKey, PathStyle: &yes}
}

// Env returns the AWS environment variables that point a client at the
// server (KEY=VALUE), for commands run by testscripts.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + SecretKey,
		"AWS_ENDPOINT_URL=" + s.Endpoint,
		"AWS_REGION=us-east-1",
		"AWS_S3_FORCE_PATH_STYLE=true",
	}
}

// Bucket creates the bucket name (a folder of Dir) and returns its
// s3:// URL. Objects may then be put in it as files below Dir/name, or
// through the API.
func (s *Server) Bucket(t testing.TB, name string) string {
	t.Helper()
	if err := s.MakeBucket(name); err != nil {
		t.Fatal(err)
	}
	return "s3://" + name
}

// MakeBucket creates the bucket name.
func (s *Server) MakeBucket(name string) error {
	st, err := s3store.Open("s3://"+name, s.Config())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.MakeBucket(ctx); err != nil {
		return fmt.Errorf("creating bucket %s: %w", name, err)
	}
	return nil
}

// Upload copies every file below dir into st, under its path relative to
// dir, through st's own Put (the S3 API for a bucket); folders named in
// skipDirs are passed over.
func Upload(ctx context.Context, st storage.Store, dir string, skipDirs ...string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			for _, s := range skipDirs {
				if d.Name() == s && p != dir {
					return filepath.SkipDir
				}
			}
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return st.Put(ctx, filepath.ToSlash(rel), data)
	})
}

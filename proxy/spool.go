package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/repodata"
)

// Repodata is never held in memory whole. The upstream body is streamed
// (decoded from .zst on the fly, size-capped) into a file of the
// process's own private folder CACHE_DIR/repodata/PID-RANDOM, which
// repodata.Open maps; the trusted document is written to a file there
// too (and its .zst, at the first request for it), and served from it
// with http.ServeContent (sendfile). Each file has a name of its own,
// never reused and never written again once complete: a request that got
// a view keeps reading that view's bytes, whatever a refresh does. A
// view's files are closed and removed when no request can reach it any
// more (a cleanup on the view); the folder is removed by Close, and the
// folders of processes that are gone by New.

// spoolDir is the process's folder of repodata files.
type spoolDir struct {
	dir string
	seq atomic.Int64
}

// openSpool makes the process's folder under cacheDir/repodata (0700:
// what is served from it was verified, nobody else may write there) and
// removes the folders of processes that are gone.
func openSpool(cacheDir string) (*spoolDir, error) {
	root := filepath.Join(cacheDir, "repodata")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(root, 0o700); err != nil {
		return nil, err
	}
	self := os.Getpid()
	if ents, err := os.ReadDir(root); err == nil {
		for _, e := range ents {
			pidStr, _, ok := strings.Cut(e.Name(), "-")
			pid, err := strconv.Atoi(pidStr)
			if !ok || err != nil || pid == self {
				continue
			}
			info, err := e.Info()
			if err == nil && processGone(pid, info.ModTime()) {
				os.RemoveAll(filepath.Join(root, e.Name()))
			}
		}
	}
	dir, err := os.MkdirTemp(root, strconv.Itoa(self)+"-")
	if err != nil {
		return nil, err
	}
	return &spoolDir{dir: dir}, nil
}

// name returns a new file name in the folder.
func (s *spoolDir) name(kind string) string {
	return filepath.Join(s.dir, strconv.FormatInt(s.seq.Add(1), 10)+"."+kind)
}

func (s *spoolDir) remove() error { return os.RemoveAll(s.dir) }

// spooled is a file written by the proxy and the SHA-256 of its bytes.
type spooled struct {
	path string
	sum  [32]byte
	size int64
}

// hashingFile writes to a new file of the spool folder, hashing what it
// writes.
type hashingFile struct {
	f  *os.File
	bw *bufio.Writer
	h  hash.Hash
	n  int64
}

func (s *spoolDir) create(kind string) (*hashingFile, error) {
	f, err := os.OpenFile(s.name(kind), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return &hashingFile{f: f, bw: bufio.NewWriterSize(f, 256<<10), h: sha256.New()}, nil
}

func (w *hashingFile) Write(p []byte) (int, error) {
	n, err := w.bw.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// ReadFrom keeps io.Copy from allocating a buffer of its own.
func (w *hashingFile) ReadFrom(r io.Reader) (int64, error) {
	return io.CopyBuffer(writerOnly{w}, r, make([]byte, 256<<10))
}

// finish closes the file; on an error (err, or its own) the file is
// removed.
func (w *hashingFile) finish(err error) (spooled, error) {
	if err == nil {
		err = w.bw.Flush()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(w.f.Name())
		return spooled{}, err
	}
	var sp spooled
	sp.path, sp.size = w.f.Name(), w.n
	w.h.Sum(sp.sum[:0])
	return sp, nil
}

// spool streams an upstream repodata body into a new file, decoding .zst
// on the fly, at most Config.MaxRepodata bytes before and after decoding.
// An empty document (or only white space) is written as one with no
// records.
func (c *channel) spool(body io.ReadCloser, u string) (spooled, error) {
	defer body.Close()
	limit := c.srv.cfg.MaxRepodata
	var r io.Reader = &capReader{r: body, left: limit, limit: limit, url: u}
	if strings.HasSuffix(u, ".zst") {
		dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(uint64(limit)), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return spooled{}, err
		}
		defer dec.Close()
		r = &capReader{r: dec, left: limit, limit: limit, url: u}
	}
	w, err := c.srv.spool.create("upstream.json")
	if err != nil {
		return spooled{}, err
	}
	_, err = io.Copy(w, r)
	sp, err := w.finish(err)
	if err != nil || sp.size > 4096 {
		return sp, err
	}
	data, err := os.ReadFile(sp.path)
	if err == nil && len(bytes.TrimSpace(data)) == 0 {
		os.Remove(sp.path)
		w, err := c.srv.spool.create("upstream.json")
		if err != nil {
			return spooled{}, err
		}
		_, err = w.Write([]byte(`{"packages": {}, "packages.conda": {}}`))
		return w.finish(err)
	}
	return sp, err
}

// writeWithoutBaseURL writes the document of src without info.base_url to
// a new file (see withoutBaseURL), reading src through a mapping.
func (s *spoolDir) writeWithoutBaseURL(src string) (spooled, error) {
	data, release, err := mapRead(src)
	if err != nil {
		return spooled{}, err
	}
	defer release()
	w, err := s.create("trusted.json")
	if err != nil {
		return spooled{}, err
	}
	return w.finish(writeWithoutBaseURL(w, data))
}

// writeWithoutBaseURL writes doc without info.base_url to w. A client that
// sees base_url (CEP 15) downloads packages from there, around the proxy;
// the proxy downloads from it itself (when repodata.ResolveBaseURL accepts
// it) and serves packages under the subdir's URL.
func writeWithoutBaseURL(w io.Writer, doc []byte) error {
	var out []byte
	first := true
	w.Write([]byte{'{'})
	err := canonjson.ForEachMember(doc, func(key string, raw []byte) error {
		if key == "info" {
			info, err := canonjson.Parse(raw)
			if err != nil {
				return err
			}
			if info.Kind() == canonjson.Object {
				raw = canonjson.Marshal(info.Without("base_url"))
			}
		}
		out = out[:0]
		if !first {
			out = append(out, ',')
		}
		first = false
		out = canonjson.AppendString(out, key)
		out = append(out, ':')
		if _, err := w.Write(out); err != nil {
			return err
		}
		_, err := w.Write(raw)
		return err
	})
	if err != nil {
		return err
	}
	_, err = w.Write([]byte{'}'})
	return err
}

// withoutBaseURL is writeWithoutBaseURL into memory.
func withoutBaseURL(doc []byte) ([]byte, error) {
	var b bytes.Buffer
	err := writeWithoutBaseURL(&b, doc)
	return b.Bytes(), err
}

// viewFiles are the resources of a view, released by a cleanup once the
// view is unreachable: the mapped upstream file and the files served.
type viewFiles struct {
	file  *repodata.File
	paths []string

	zstOnce sync.Once
	zst     spooled
	zstErr  error
}

func (r *viewFiles) release() {
	if r.file != nil {
		r.file.Close()
	}
	for _, p := range r.paths {
		os.Remove(p)
	}
	if r.zst.path != "" {
		os.Remove(r.zst.path)
	}
}

// zstd compresses the served document into a file, once, at the first
// request for it.
func (r *viewFiles) zstd(s *spoolDir, body string) (spooled, error) {
	r.zstOnce.Do(func() {
		in, err := os.Open(body)
		if err != nil {
			r.zstErr = err
			return
		}
		defer in.Close()
		w, err := s.create("trusted.json.zst")
		if err != nil {
			r.zstErr = err
			return
		}
		enc, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
		if err == nil {
			if _, err = io.CopyBuffer(enc, in, make([]byte, 256<<10)); err == nil {
				err = enc.Close()
			} else {
				enc.Close()
			}
		}
		r.zst, r.zstErr = w.finish(err)
		if r.zstErr != nil {
			r.zstErr = fmt.Errorf("compressing repodata.json.zst: %w", r.zstErr)
		}
	})
	return r.zst, r.zstErr
}

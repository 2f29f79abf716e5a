package proxy

import (
	"bytes"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/shards"
)

// viewShards is the sharded form of a verified view, built on first
// request from the served document (only trusted records, with their
// signatures) by the indexer's shard writer, and kept with the view.
type viewShards struct {
	once   sync.Once
	index  []byte
	byFile map[string][]byte // shard file name -> bytes
	err    error
}

// shardsOf returns v's shards, building them once.
func (v *view) shardsOf() (*viewShards, error) {
	v.smu.Lock()
	if v.shards == nil {
		v.shards = &viewShards{}
	}
	vs := v.shards
	v.smu.Unlock()
	vs.once.Do(func() {
		f, err := repodata.Open(v.body)
		if err != nil {
			vs.err = err
			return
		}
		defer f.Close()
		list, err := shards.FromRepodata(f, nil)
		if err != nil {
			vs.err = err
			return
		}
		set, err := shards.Build(v.subdir, list)
		if err != nil {
			vs.err = err
			return
		}
		vs.index = set.Index
		vs.byFile = make(map[string][]byte, len(set.Shards))
		for _, sf := range set.Shards {
			vs.byFile[sf.Name()] = sf.Data
		}
	})
	return vs, vs.err
}

// serveShards answers SUBDIR/repodata_shards.msgpack.zst (shard == "")
// and SUBDIR/shards/SHARD from the verified repodata.json: never the
// upstream's shards, which carry no signatures, but shards built from
// the records this proxy verified, in the indexer's format. A legacy
// channel's repodata is not verified and gets no shards.
func (s *Server) serveShards(w *respWriter, r *http.Request, c *channel, subdir, shard string) {
	v, stale, err := c.current(r.Context(), docKey{subdir, "repodata.json"})
	if err != nil {
		s.fail(w, c, err)
		return
	}
	defer runtime.KeepAlive(v)
	if v.legacy {
		s.fail(w, c, notFound("sharded repodata is not served for the legacy channel %s: its repodata is not verified; use repodata.json", c.name))
		return
	}
	vs, err := v.shardsOf()
	if err != nil {
		s.fail(w, c, fmt.Errorf("building shards of %s/%s: %w", c.name, subdir, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("X-Conda-Trust-Records", fmt.Sprintf("trusted=%d dropped=%d", v.counts[0], v.counts[1]+v.counts[2]))
	if shard == "" {
		h.Set("ETag", strings.TrimSuffix(v.etag, `"`)+`-shards"`)
		h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.cfg.Refresh.Seconds())))
		if stale != nil {
			h.Set("Warning", `110 - "Response is Stale"`)
		}
		http.ServeContent(w, r, shards.IndexFile, v.modTime, bytes.NewReader(vs.index))
		return
	}
	data, ok := vs.byFile[shard]
	if !ok {
		s.fail(w, c, notFound("%s/shards/%s is not a shard of the verified repodata", subdir, shard))
		return
	}
	h.Set("ETag", `"`+strings.TrimSuffix(shard, shards.Suffix)+`"`)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, shard, v.modTime, bytes.NewReader(data))
}

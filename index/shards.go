package index

import (
	"fmt"
	"maps"
	"slices"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/internal/workpool"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/shards"
	"github.com/condatrust/condatrust/storage"
)

// shardsDir is the folder of the shards in a subdir.
const shardsDir = shards.Dir

// shardWriters is how many new shards are written at once: each write
// ends with an fsync, which mostly waits, so more writers than cores pay.
const shardWriters = 8

// writeShards writes the CEP 16 shards of the subdir from signed, the
// repodata.json just written (so the records and signatures are the very
// ones of repodata.json), with each package's run_exports (CEP 21) in its
// records: first every shard not yet on disk, then
// repodata_shards.msgpack.zst, so that a client never sees an index that
// names a missing shard. Shards are content-addressed and never rewritten;
// those of earlier runs stay, for clients holding an older index.
func (s *subdirState) writeShards(signed []byte) error {
	f, err := repodata.Parse(signed)
	if err != nil {
		return fmt.Errorf("re-reading %s: %w", RepodataFile, err)
	}
	runExports := map[string]canonjson.Value{}
	s.indexed(func(f *pkgFile) { runExports[f.name] = runExportsOf(f.entry) })
	empty, _ := canonjson.NewObject(nil)
	list, err := shards.FromRepodata(f, func(fn string) canonjson.Value {
		if v, ok := runExports[fn]; ok {
			return v
		}
		return empty
	})
	if err != nil {
		return fmt.Errorf("%s: %w", shards.IndexFile, err)
	}
	set, err := shards.Build(s.name, list)
	if err != nil {
		return fmt.Errorf("%s: %w", shards.IndexFile, err)
	}
	s.res.Shards = len(set.Shards)
	present := map[string]bool{}
	ents, err := s.st.List(s.ctx, storage.Join(s.name, shardsDir))
	if err != nil {
		return err
	}
	for _, e := range ents {
		present[e.Name] = !e.Dir && e.Err == nil
	}
	var todo []shards.File
	for _, pkg := range slices.Sorted(maps.Keys(set.Shards)) {
		if !present[set.Shards[pkg].Name()] { // content-addressed: present means written
			todo = append(todo, set.Shards[pkg])
		}
	}
	// New shards are written on several goroutines, each through
	// writeOutput on a state of its own, so that their syncs overlap; the
	// index is written after all of them.
	workers := min(shardWriters, max(1, len(todo)))
	outs := make([]*subdirState, workers)
	for i := range outs {
		outs[i] = &subdirState{ctx: s.ctx, st: s.st, name: s.name, path: s.path}
	}
	err = workpool.Run(workers, len(todo), 16, func(w, lo, hi int) error {
		for _, sf := range todo[lo:hi] {
			if _, err := outs[w].writeOutput(shardsDir+"/"+sf.Name(), sf.Data, true); err != nil {
				return err
			}
		}
		return nil
	})
	var written, deleted []string
	for _, o := range outs {
		written = append(written, o.res.Written...)
		deleted = append(deleted, o.res.Deleted...)
	}
	slices.Sort(written)
	slices.Sort(deleted)
	s.res.Written = append(s.res.Written, written...)
	s.res.Deleted = append(s.res.Deleted, deleted...)
	if err != nil {
		return err
	}
	_, err = s.writeOutput(shards.IndexFile, set.Index, true)
	return err
}

package index

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/shards"
	"github.com/condatrust/condatrust/signer"
)

// TestRunExportsAndShards indexes conda-index's test channel with
// run_exports.json and shards, signed, and checks run_exports.json's exact
// bytes (conda-index's json.dumps(sort_keys=True, separators=(",", ":"))
// of its CEP 12 document; the upstream fixture has no run_exports.json),
// that every shard holds repodata.json's records with their run_exports
// and signatures that verify, and that a second run writes nothing.
func TestRunExportsAndShards(t *testing.T) {
	src := testvectors.Path(t, "packages/conda-index/channel-index_data")
	ch := t.TempDir()
	copyPackages(t, src, ch, "noarch", "osx-64")
	k, err := signer.NewKey(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Signers: []signer.Signer{k}, RunExports: true, Shards: true, ChannelData: true, CacheKey: testCacheKey}
	res, err := Index(context.Background(), ch, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"info":{"subdir":"noarch","version":1},"packages":{` +
		`"run_exports_versions-1.0-he35c369_0.tar.bz2":{"run_exports":{"weak":["run_exports_version 1.0"]}},` +
		`"run_exports_versions-2.0-h39de5ba_0.tar.bz2":{"run_exports":{"weak":["run_exports_version 2.0"]}}},"packages.conda":{}}`
	if got := string(readFile(t, filepath.Join(ch, "noarch", RunExportsFile))); got != want {
		t.Errorf("noarch/run_exports.json\n got %s\nwant %s", got, want)
	}
	checkZst(t, filepath.Join(ch, "noarch", RunExportsFile))
	if !slices.Equal(res.Written, []string{ChannelDataFile}) {
		t.Errorf("channel-wide files written: %v", res.Written)
	}

	pub := k.Public()
	for _, sub := range []string{"noarch", "osx-64"} {
		rd, err := repodata.Parse(readFile(t, filepath.Join(ch, sub, RepodataFile)))
		if err != nil {
			t.Fatal(err)
		}
		idx := decodeZstMsgpack(t, filepath.Join(ch, sub, shards.IndexFile))
		info := idx["info"].(map[string]any)
		if info["subdir"] != sub || info["shards_base_url"] != "./shards/" || idx["version"] != int64(1) {
			t.Errorf("%s index info %v", sub, idx)
		}
		names := idx["shards"].(map[string]any)
		if len(names) != 1 {
			t.Errorf("%s: shards for %v", sub, names)
		}
		seen := 0
		for name, h := range names {
			shard := decodeZstMsgpack(t, filepath.Join(ch, sub, "shards", hex.EncodeToString(h.([]byte))+".msgpack.zst"))
			sigs := shard["signatures"].(map[string]any)
			for fn, rec := range shard["packages"].(map[string]any) {
				seen++
				m := rec.(map[string]any)
				if m["name"] != name {
					t.Errorf("%s in the shard of %s", fn, name)
				}
				if fn == "run_exports_versions-2.0-h39de5ba_0.tar.bz2" {
					re := m["run_exports"].(map[string]any)["weak"].([]any)
					if len(re) != 1 || re[0] != "run_exports_version 2.0" {
						t.Errorf("%s: run_exports %v", fn, m["run_exports"])
					}
				}
				// The signature covers the record of repodata.json: drop
				// run_exports, hashes back to hex.
				delete(m, "run_exports")
				m["md5"] = hex.EncodeToString(m["md5"].([]byte))
				m["sha256"] = hex.EncodeToString(m["sha256"].([]byte))
				v, err := canonjson.FromGo(m)
				if err != nil {
					t.Fatal(err)
				}
				r, _ := rd.Record(fn)
				orig, _ := r.Value()
				if !v.Equal(orig) {
					t.Errorf("%s: shard record %s\nrepodata.json  %s", fn, canonjson.Marshal(v), canonjson.Marshal(orig))
				}
				sig, _ := hex.DecodeString(sigs[fn].(map[string]any)[pub.String()].(map[string]any)["signature"].(string))
				if !ed25519.Verify(pub[:], canonjson.Marshal(v), sig) {
					t.Errorf("%s: the shard's signature does not verify", fn)
				}
			}
		}
		if seen != rd.Len() {
			t.Errorf("%s: %d records in shards, %d in repodata.json", sub, seen, rd.Len())
		}
	}

	res, err = Index(context.Background(), ch, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Subdirs {
		if len(s.Written) > 0 || s.Shards != 1 {
			t.Errorf("second run, %s: wrote %v, %d shards", s.Subdir, s.Written, s.Shards)
		}
	}
	if len(res.Written) > 0 {
		t.Errorf("second run wrote %v", res.Written)
	}
}

func decodeZstMsgpack(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := shards.Decompress(data, 64<<20)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	v, err := shards.Decode(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v.(map[string]any)
}

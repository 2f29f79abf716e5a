package proxy

import (
	"encoding/hex"
	"slices"
	"testing"

	"github.com/condatrust/condatrust/shards"
)

// servedShardNames fetches the proxy's shard index of subdir and every
// shard it names, checks each shard's name (its SHA-256) and that its
// records are of its package, and returns the package names.
func servedShardNames(t *testing.T, e *env, subdir string) []string {
	t.Helper()
	resp, body := e.get("/main/" + subdir + "/repodata_shards.msgpack.zst")
	if resp.StatusCode != 200 {
		t.Fatalf("shard index: %d %s", resp.StatusCode, body)
	}
	raw, err := shards.Decompress(body, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	v, err := shards.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name, h := range v.(map[string]any)["shards"].(map[string]any) {
		names = append(names, name)
		hexName := hex.EncodeToString(h.([]byte))
		resp, body := e.get("/main/" + subdir + "/shards/" + hexName + ".msgpack.zst")
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Fatalf("shard %s: %d %s", name, resp.StatusCode, body)
		}
		raw, err := shards.Decompress(body, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		sv, err := shards.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		sh := sv.(map[string]any)
		for _, sec := range []string{"packages", "packages.conda"} {
			for fn, rec := range sh[sec].(map[string]any) {
				if rec.(map[string]any)["name"] != name {
					t.Errorf("%s in the shard of %s", fn, name)
				}
				if _, ok := sh["signatures"].(map[string]any)[fn]; !ok {
					t.Errorf("%s: no signatures in its shard", fn)
				}
			}
		}
	}
	slices.Sort(names)
	return names
}

// TestShardsServed: the proxy serves shards it built from the records it
// verified, with their signatures; the upstream is never asked for
// shards.
func TestShardsServed(t *testing.T) {
	e := newEnv(t)
	names := servedShardNames(t, e, "noarch")
	if len(names) == 0 {
		t.Fatal("no shards")
	}
	if resp, _ := e.get("/main/noarch/shards/" + hex.EncodeToString(make([]byte, 32)) + ".msgpack.zst"); resp.StatusCode != 404 {
		t.Errorf("unknown shard: %d, want 404", resp.StatusCode)
	}
	for p := range e.requests {
		if p == "noarch/repodata_shards.msgpack.zst" {
			t.Errorf("the upstream was asked for %s", p)
		}
	}
}

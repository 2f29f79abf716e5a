package shards

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"testing"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/repodata"
)

func mustValue(t testing.TB, s string) canonjson.Value {
	t.Helper()
	v, err := canonjson.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMsgpackBytes pins the encoding of each kind to the bytes Python's
// msgpack.packb writes (the msgpack specification's smallest forms).
func TestMsgpackBytes(t *testing.T) {
	for _, c := range []struct {
		json string
		want string // hex
	}{
		{`null`, "c0"}, {`true`, "c3"}, {`false`, "c2"},
		{`0`, "00"}, {`127`, "7f"}, {`128`, "cc80"}, {`256`, "cd0100"}, {`65536`, "ce00010000"},
		{`4294967296`, "cf0000000100000000"}, {`18446744073709551615`, "cfffffffffffffffff"},
		{`-1`, "ff"}, {`-32`, "e0"}, {`-33`, "d0df"}, {`-129`, "d1ff7f"}, {`-32769`, "d2ffff7fff"},
		{`-2147483649`, "d3ffffffff7fffffff"},
		{`1.5`, "cb3ff8000000000000"},
		{`""`, "a0"}, {`"abc"`, "a3616263"},
		{`"` + string(bytes.Repeat([]byte("x"), 32)) + `"`, "d920" + hex.EncodeToString(bytes.Repeat([]byte("x"), 32))},
		{`[]`, "90"}, {`[1,"a"]`, "9201a161"}, {`{}`, "80"}, {`{"b":1,"a":2}`, "82a16102a16201"},
	} {
		got, err := appendValue(nil, mustValue(t, c.json))
		if err != nil {
			t.Fatalf("%s: %v", c.json, err)
		}
		if hex.EncodeToString(got) != c.want {
			t.Errorf("%s: %x, want %s", c.json, got, c.want)
		}
		back, err := Decode(got)
		if err != nil {
			t.Errorf("%s: decoding: %v", c.json, err)
			continue
		}
		_ = back
	}
	if _, err := appendValue(nil, mustValue(t, `18446744073709551616`)); err == nil {
		t.Error("an integer beyond 64 bits was encoded")
	}
}

const signedRepodata = `{"info":{"subdir":"noarch"},
"packages":{"a-1.0-0.tar.bz2":{"build":"0","md5":"00112233445566778899aabbccddeeff","name":"a","sha256":"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff","size":1,"version":"1.0"}},
"packages.conda":{"a-2.0-0.conda":{"build":"0","md5":"ffeeddccbbaa99887766554433221100","name":"a","sha256":"ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100","size":2,"version":"2.0"},
"b-1-0.conda":{"build":"0","name":"b","version":"1","depends":["a >=2"]}},
"removed":["c-1-0.conda"],"repodata_version":1,
"signatures":{"a-2.0-0.conda":{"aa":{"signature":"bb"}}}}`

func TestFromRepodataAndBuild(t *testing.T) {
	f, err := repodata.Parse([]byte(signedRepodata))
	if err != nil {
		t.Fatal(err)
	}
	runExports := func(fn string) canonjson.Value {
		if fn == "a-2.0-0.conda" {
			return mustValue(t, `{"weak":["a >=2"]}`)
		}
		return mustValue(t, `{}`)
	}
	list, err := FromRepodata(f, runExports)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Name != "a" || list[1].Name != "b" || list[2].Name != "c" {
		t.Fatalf("shards %v", list)
	}
	set, err := Build("noarch", list)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := Decompress(set.Index, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	wantIdx := map[string]any{
		"version": int64(1),
		"info":    map[string]any{"base_url": "", "shards_base_url": "./shards/", "subdir": "noarch"},
		"shards": map[string]any{
			"a": sliceOf(set.Shards["a"].SHA256), "b": sliceOf(set.Shards["b"].SHA256), "c": sliceOf(set.Shards["c"].SHA256),
		},
	}
	if !reflect.DeepEqual(idx, wantIdx) {
		t.Errorf("index %#v\nwant %#v", idx, wantIdx)
	}
	for name, sf := range set.Shards {
		if sha256.Sum256(sf.Data) != sf.SHA256 || sf.Name() != hex.EncodeToString(sf.SHA256[:])+".msgpack.zst" {
			t.Errorf("shard %s is not named by the SHA-256 of its bytes", name)
		}
	}
	raw, err = Decompress(set.Shards["a"].Data, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	shard, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	md5a, _ := hex.DecodeString("00112233445566778899aabbccddeeff")
	sha, _ := hex.DecodeString("ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100")
	md5b, _ := hex.DecodeString("ffeeddccbbaa99887766554433221100")
	shaA, _ := hex.DecodeString("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	want := map[string]any{
		"packages": map[string]any{"a-1.0-0.tar.bz2": map[string]any{"build": "0", "md5": md5a, "name": "a", "sha256": shaA,
			"size": int64(1), "version": "1.0", "run_exports": map[string]any{}}},
		"packages.conda": map[string]any{"a-2.0-0.conda": map[string]any{"build": "0", "md5": md5b, "name": "a", "sha256": sha,
			"size": int64(2), "version": "2.0", "run_exports": map[string]any{"weak": []any{"a >=2"}}}},
		"signatures": map[string]any{"a-2.0-0.conda": map[string]any{"aa": map[string]any{"signature": "bb"}}},
	}
	if !reflect.DeepEqual(shard, want) {
		t.Errorf("shard a\n%#v\nwant\n%#v", shard, want)
	}
	raw, _ = Decompress(set.Shards["c"].Data, 1<<20)
	if c, _ := Decode(raw); !reflect.DeepEqual(c, map[string]any{"packages": map[string]any{}, "packages.conda": map[string]any{},
		"removed": []any{"c-1-0.conda"}}) {
		t.Errorf("shard c: %#v", c)
	}
	// The same input gives the same bytes.
	again, _ := Build("noarch", list)
	if !bytes.Equal(again.Index, set.Index) || !bytes.Equal(again.Shards["a"].Data, set.Shards["a"].Data) {
		t.Error("Build is not deterministic")
	}
}

func sliceOf(h [32]byte) []byte { return h[:] }

func TestDecodeRefuses(t *testing.T) {
	for _, c := range []string{"", "c1", "92", "81a161", "a5616263", "dc0005", "df7fffffff", "d6000000000000", "8101c0", "0000"} {
		b, _ := hex.DecodeString(c)
		if _, err := Decode(b); err == nil {
			t.Errorf("Decode(%s) accepted", c)
		}
	}
}

// FuzzDecode checks that Decode never panics or over-allocates, and that
// what it accepts re-encodes (through JSON values) when it is JSON-like.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"c0", "82a16102a16201", "9201a161", "c40200ff", "dc000101", "cb3ff8000000000000"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Decode(data)
	})
}

package index

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/condatrust/condatrust/condapkg"
)

func TestPostInstallFlags(t *testing.T) {
	for _, c := range []struct {
		paths string
		want  uint8
	}{
		{``, 0},
		{`not json`, 0},
		{`{"paths": [{"_path": "bin/x", "prefix_placeholder": "/opt/p", "file_mode": "text"}]}`, piTextPrefix},
		{`{"paths": [{"_path": "lib/x.so", "prefix_placeholder": "/opt/p", "file_mode": "binary"}]}`, piBinaryPrefix},
		{`{"paths": [{"_path": "lib/x.so", "prefix_placeholder": "", "file_mode": "binary"}]}`, 0},
		{`{"paths": [{"_path": "etc/conda/activate.d/x.sh"}, {"_path": "etc/conda/deactivate.d/x.sh"}]}`, piActivateD | piDeactivateD},
		{`{"paths": [{"_path": "bin/.pkg-post-link.sh"}, {"_path": "Scripts/.pkg-pre-unlink.bat"}, {"_path": "bin/.x-pre-link.sh"}]}`, piPostLink | piPreUnlink | piPreLink},
		{`{"paths": [{"_path": ".pkg-post-link.sh"}]}`, 0}, // conda-index's pattern needs a folder: */.*-post-link.*
	} {
		if got := postInstallFlags([]byte(c.paths)); got != c.want {
			t.Errorf("%s: flags %07b, want %07b", c.paths, got, c.want)
		}
	}
}

// TestChannelDataFields checks the about.json fields, newline clearing,
// the newest version winning and the flags of every version counting.
func TestChannelDataFields(t *testing.T) {
	ch := t.TempDir()
	for _, s := range []condapkg.Spec{
		{Name: "tool", Version: "1.0", Build: "0", Subdir: "linux-64", Timestamp: 1700000000000,
			Files: map[string][]byte{
				"info/about.json": []byte(`{"summary": "old\nsummary", "home": "https://old", "license": "MIT", "tags": []}`),
				"info/paths.json": []byte(`{"paths": [{"_path": "bin/tool", "prefix_placeholder": "/p", "file_mode": "text"}], "paths_version": 1}`),
				"bin/tool":        []byte("x")}},
		{Name: "tool", Version: "1.10", Build: "0", Subdir: "linux-64", Timestamp: 1600000000000,
			Files: map[string][]byte{
				"info/about.json":       []byte(`{"summary": "  new\nsummary ", "description": ["a\n", "b"], "dev_url": null}`),
				"info/run_exports.json": []byte(`{"weak": ["tool >=1.10"]}`),
				"bin/tool":              []byte("y")}},
	} {
		if _, err := s.WriteTo(filepath.Join(ch, "linux-64"), condapkg.Conda, condapkg.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Index(context.Background(), ch, Options{ChannelData: true, CacheKey: testCacheKey}); err != nil {
		t.Fatal(err)
	}
	got := string(readFile(t, filepath.Join(ch, ChannelDataFile)))
	want := `{"channeldata_version":1,"packages":{"tool":{"activate.d":false,"binary_prefix":false,"deactivate.d":false,` +
		`"description":"a b","home":"https://old","license":"MIT","post_link":false,"pre_link":false,"pre_unlink":false,` +
		`"run_exports":{"1.10":{"weak":["tool >=1.10"]}},"subdirs":["linux-64"],"summary":"new summary","text_prefix":true,` +
		`"timestamp":1600000000,"version":"1.10"}},"subdirs":["linux-64","noarch"]}` + "\n"
	if got != want {
		t.Errorf("channeldata.json\n got %s\nwant %s", got, want)
	}
}

package index

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/condatrust/condatrust/internal/testvectors"
)

// TestGoldenCurrentAndChannelData compares current_repodata.json and
// channeldata.json with the files conda-index's test channel ships
// (tests/index_data/packages), byte for byte in the indented layout the
// fixture uses. Nothing is normalised: conda-index's channeldata.json
// timestamps are the packages' own (in seconds), not the time of the run.
func TestGoldenCurrentAndChannelData(t *testing.T) {
	src := testvectors.Path(t, "packages/conda-index/channel-index_data")
	ch := t.TempDir()
	copyPackages(t, src, ch, "noarch", "osx-64")
	if _, err := Index(context.Background(), ch, Options{Layout: Indented, ChannelData: true, CacheKey: testCacheKey}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"noarch/" + CurrentRepodataFile, "osx-64/" + CurrentRepodataFile, ChannelDataFile} {
		want, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(ch, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: differs from conda-index's\n got: %s\nwant: %s", name, got, want)
		}
	}
	for _, sub := range []string{"noarch", "osx-64"} {
		checkZst(t, filepath.Join(ch, sub, CurrentRepodataFile))
	}
}

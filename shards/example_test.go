package shards_test

import (
	"fmt"

	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/shards"
)

// Split a repodata.json into shards and build the files of the subdir.
func Example() {
	f, err := repodata.Parse([]byte(`{"info":{"subdir":"noarch"},"packages":{},
		"packages.conda":{"demo-1.0-0.conda":{"build":"0","name":"demo","version":"1.0","depends":[]}},
		"removed":[],"repodata_version":1}`))
	if err != nil {
		panic(err)
	}
	list, err := shards.FromRepodata(f, nil)
	if err != nil {
		panic(err)
	}
	set, err := shards.Build("noarch", list)
	if err != nil {
		panic(err)
	}
	for name, file := range set.Shards {
		fmt.Println(name, "->", shards.Dir+"/"+file.Name()[:8]+"...")
	}
	fmt.Println(shards.IndexFile, len(set.Index) > 0)
	// Output:
	// demo -> shards/60daeba9...
	// repodata_shards.msgpack.zst true
}

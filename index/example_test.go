package index_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/index"
)

// A record is index.json minus the build-machine keys, plus the archive's
// checksums and size. This is the record of conda-index's
// dummy-package-1.0-0.tar.bz2 test package.
func ExampleRecord() {
	indexJSON := []byte(`{"arch": "x86_64", "build": "0", "build_number": 0, "depends": ["python 2.7.*"],
		"name": "dummy-package", "platform": "osx", "subdir": "osx-64", "timestamp": 1557771554052, "version": "1.0"}`)
	rec, err := index.Record(indexJSON, 2517, "fe3ca1adcd2b7799a5eba03cc774725d",
		"c836fbdafcd615bdb4633264bf096ebc6c3c6977de1f9b2bf527ab6fc6415e01")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(index.Compact.Marshal(rec)))
	// Output:
	// {"build":"0","build_number":0,"depends":["python 2.7.*"],"md5":"fe3ca1adcd2b7799a5eba03cc774725d","name":"dummy-package","sha256":"c836fbdafcd615bdb4633264bf096ebc6c3c6977de1f9b2bf527ab6fc6415e01","size":2517,"subdir":"osx-64","timestamp":1557771554052,"version":"1.0"}
}

// Index a channel folder twice: the second run takes every package from
// the cache and rewrites nothing.
func ExampleIndex() {
	channel, err := os.MkdirTemp("", "channel-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(channel)
	pkg := condapkg.Spec{Name: "hello", Version: "1.0", Build: "0",
		Files: map[string][]byte{"share/hello.txt": []byte("hello\n")}}
	if _, err := pkg.WriteTo(filepath.Join(channel, "noarch"), condapkg.Conda, condapkg.WriteOptions{}); err != nil {
		log.Fatal(err)
	}
	for range 2 {
		res, err := index.Index(context.Background(), channel, index.Options{})
		if err != nil {
			log.Fatal(err)
		}
		s := res.Subdirs[0]
		fmt.Printf("%s: %d record(s), %d read, %d from cache, %d file(s) written\n",
			s.Subdir, s.Records, s.Read, s.Cached, len(s.Written))
	}
	// Output:
	// noarch: 1 record(s), 1 read, 0 from cache, 6 file(s) written
	// noarch: 1 record(s), 0 read, 1 from cache, 0 file(s) written
}

// Versions compare as conda compares them.
func ExampleParseVersion() {
	for _, pair := range [][2]string{{"1.10", "1.9"}, {"1.1.0", "1.1"}, {"1.1dev1", "1.1a1"}, {"1.0post1", "1.0"}} {
		a, _ := index.ParseVersion(pair[0])
		b, _ := index.ParseVersion(pair[1])
		fmt.Printf("%s vs %s: %d\n", pair[0], pair[1], a.Compare(b))
	}
	// Output:
	// 1.10 vs 1.9: 1
	// 1.1.0 vs 1.1: 0
	// 1.1dev1 vs 1.1a1: -1
	// 1.0post1 vs 1.0: 1
}

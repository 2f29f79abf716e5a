package condapkg_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/condatrust/condatrust/condapkg"
)

func ExampleReadFile() {
	dir, err := os.MkdirTemp("", "condapkg-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	spec := &condapkg.Spec{
		Name: "hello", Version: "1.0", Build: "0",
		Files: map[string][]byte{
			"bin/hello":             []byte("#!/bin/sh\necho hello\n"),
			"info/run_exports.json": []byte(`{"weak": ["hello >=1.0"]}`),
		},
	}
	path, err := spec.WriteTo(dir, condapkg.Conda, condapkg.WriteOptions{})
	if err != nil {
		log.Fatal(err)
	}

	info, err := condapkg.ReadFile(path, condapkg.ReadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	var record struct{ Name, Version, Subdir string }
	if err := json.Unmarshal(info.IndexJSON, &record); err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Filename, info.Format)
	fmt.Println(record.Name, record.Version, record.Subdir)
	fmt.Println("sha256 hex digits:", len(info.SHA256))
	fmt.Printf("run_exports: %s\n", info.Files["info/run_exports.json"])
	// Output:
	// hello-1.0-0.conda conda
	// hello 1.0 noarch
	// sha256 hex digits: 64
	// run_exports: {"weak": ["hello >=1.0"]}
}

func ExampleFormatError() {
	_, err := condapkg.Read(strings.NewReader("not bzip2 data"), "broken-1.0-0.tar.bz2", condapkg.ReadOptions{})
	var fe *condapkg.FormatError
	if errors.As(err, &fe) && errors.Is(err, condapkg.ErrMalformed) {
		fmt.Println("skipping", fe.Package)
	}
	_, err = condapkg.Read(strings.NewReader(""), "notes.txt", condapkg.ReadOptions{})
	fmt.Println(errors.Is(err, condapkg.ErrNotPackage))
	// Output:
	// skipping broken-1.0-0.tar.bz2
	// true
}

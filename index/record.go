package index

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/trust"
)

// DropKeys are the info/index.json keys that conda-index leaves out of a
// repodata record (channel-index.md §4.1). Every other key is kept as it
// is, including keys this package does not know.
var DropKeys = []string{
	"arch", "binstar", "has_prefix", "machine", "mtime", "operatingsystem",
	"platform", "requires_features", "target-triplet", "ucs",
}

// Record builds the repodata.json record of a package as conda-index does:
// the object in indexJSON (the bytes of info/index.json) minus [DropKeys],
// plus "md5", "sha256" and "size" of the archive file, which replace any
// keys of those names in index.json. Values are kept exactly: numbers keep
// their digits (a millisecond "timestamp" stays in milliseconds), an absent
// key stays absent, and no "fn", "url" or "channel" is added.
//
// md5 and sha256 must be lower-case hex digests of the whole archive.
func Record(indexJSON []byte, size int64, md5, sha256 string) (canonjson.Value, error) {
	if err := checkHex(md5, 16); err != nil {
		return canonjson.Value{}, fmt.Errorf("md5: %w", err)
	}
	if err := checkHex(sha256, 32); err != nil {
		return canonjson.Value{}, fmt.Errorf("sha256: %w", err)
	}
	if size < 0 {
		return canonjson.Value{}, fmt.Errorf("size: negative (%d)", size)
	}
	v, err := canonjson.Parse(indexJSON)
	if err != nil {
		return canonjson.Value{}, fmt.Errorf("info/index.json: %w", err)
	}
	if v.Kind() != canonjson.Object {
		return canonjson.Value{}, fmt.Errorf("info/index.json: a JSON %s, not an object", v.Kind())
	}
	for _, k := range DropKeys {
		if _, ok := v.Get(k); ok {
			v = v.Without(k)
		}
	}
	for _, m := range []struct {
		key string
		val canonjson.Value
	}{{"md5", canonjson.MustString(md5)}, {"sha256", canonjson.MustString(sha256)}, {"size", canonjson.NewInt(size)}} {
		if v, err = v.With(m.key, m.val); err != nil {
			return canonjson.Value{}, err
		}
	}
	return v, nil
}

// RecordFromInfo builds the record of a package read with condapkg: see
// [Record].
func RecordFromInfo(info *condapkg.Info) (canonjson.Value, error) {
	return Record(info.IndexJSON, info.Size, info.MD5, info.SHA256)
}

// checkBinding checks, with [repodata.CheckBinding], that the record built
// from a package describes the file it is filed under in the subdir folder:
// name-version-build and extension are the file name and, when the record
// has a "subdir", it is the folder's name. File names and folders are not
// signed, so a record signed for a misnamed file could be served under the
// name it claims and pass every client check.
func checkBinding(subdir, filename string, rec canonjson.Value) error {
	sec, _ := repodata.SectionFor(filename)
	err := repodata.CheckBinding(sec, filename, subdir, rec)
	if err == nil {
		return nil
	}
	detail := err.Error()
	if ve, ok := errors.AsType[*trust.VerificationError](err); ok {
		detail = ve.Detail
	}
	return fmt.Errorf("its info/index.json does not describe this file (%s): not indexed or signed: rename the file to what its info/index.json says, move it to the folder of its subdir, or rebuild the package", detail)
}

func checkHex(s string, n int) error {
	if len(s) != 2*n {
		return fmt.Errorf("%q is not %d hex digits", s, 2*n)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return fmt.Errorf("%q is not hex", s)
	}
	for _, c := range s {
		if c >= 'A' && c <= 'F' {
			return fmt.Errorf("%q is not lower-case hex", s)
		}
	}
	return nil
}

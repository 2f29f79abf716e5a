// Package synth generates realistic, deterministic conda-forge-like
// package records and repodata for tests and benchmarks.
package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
)

var (
	names = []string{"numpy", "scipy", "pandas", "libgcc-ng", "openssl", "python", "zlib", "xz",
		"libffi", "ncurses", "readline", "sqlite", "tk", "bzip2", "libzlib", "ca-certificates",
		"matplotlib-base", "pyarrow", "libarrow", "r-base", "r-ggplot2", "boost-cpp", "icu", "hdf5"}
	licenses = []string{"BSD-3-Clause", "MIT", "Apache-2.0", "GPL-2.0-or-later", "LGPL-2.1-only", "PSF-2.0", "Zlib"}
	deps     = []string{"python >=3.11,<3.12.0a0", "libgcc-ng >=12", "libstdcxx-ng >=12", "numpy >=1.23.5,<2.0a0",
		"python_abi 3.11.* *_cp311", "libzlib >=1.2.13,<2.0.0a0", "openssl >=3.1.4,<4.0a0", "__glibc >=2.17,<3.0.a0",
		"libblas >=3.9.0,<4.0a0", "libcblas >=3.9.0,<4.0a0", "liblapack >=3.9.0,<4.0a0", "ca-certificates"}
)

func hexOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Record returns the file name and the compact JSON (keys sorted, as
// conda-index writes them, before indenting) of synthetic record i. The
// same i always gives the same bytes; salt varies the content of every
// record (used to make "changed" records).
func Record(i int, salt string) (filename string, record []byte) {
	name := names[i%len(names)]
	if i >= len(names) {
		name += "-" + strconv.Itoa(i/len(names)%5000)
	}
	version := fmt.Sprintf("%d.%d.%d", 1+i%7, i%13, i%29)
	build := fmt.Sprintf("py311h%s_%d", hexOf(strconv.Itoa(i), salt)[:8], i%3)
	ext := ".conda"
	if i%4 == 0 {
		ext = ".tar.bz2"
	}
	filename = name + "-" + version + "-" + build + ext
	sum := hexOf("pkg", strconv.Itoa(i), salt)
	var b bytes.Buffer
	b.WriteString(`{"build":"` + build + `","build_number":` + strconv.Itoa(i%3))
	if i%5 == 0 {
		b.WriteString(`,"constrains":["pyarrow >=13","` + names[(i+3)%len(names)] + ` >=1.0"]`)
	}
	b.WriteString(`,"depends":[`)
	nd := 2 + i%6
	for d := 0; d < nd; d++ {
		if d > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + deps[(i+d)%len(deps)] + `"`)
	}
	b.WriteString(`],"license":"` + licenses[i%len(licenses)] + `"`)
	if i%3 == 0 {
		b.WriteString(`,"license_family":"BSD"`)
	}
	b.WriteString(`,"md5":"` + sum[:32] + `","name":"` + name + `"`)
	if i%7 == 0 {
		b.WriteString(`,"noarch":"python"`)
	}
	b.WriteString(`,"sha256":"` + sum + `","size":` + strconv.Itoa(10000+i*37%9000000))
	b.WriteString(`,"subdir":"linux-64","timestamp":` + strconv.FormatInt(1600000000000+int64(i)*60013, 10))
	if i%11 == 0 {
		b.WriteString(`,"track_features":""`)
	}
	b.WriteString(`,"version":"` + version + `"}`)
	return filename, b.Bytes()
}

// Repodata returns a compact repodata.json document with n records split
// between "packages" (.tar.bz2) and "packages.conda".
func Repodata(n int, salt string) []byte {
	var bz, cd bytes.Buffer
	for i := 0; i < n; i++ {
		fn, rec := Record(i, salt)
		buf := &cd
		if bytes.HasSuffix([]byte(fn), []byte(".tar.bz2")) {
			buf = &bz
		}
		if buf.Len() > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`"` + fn + `":`)
		buf.Write(rec)
	}
	var out bytes.Buffer
	out.WriteString(`{"info":{"subdir":"linux-64"},"packages":{`)
	out.Write(bz.Bytes())
	out.WriteString(`},"packages.conda":{`)
	out.Write(cd.Bytes())
	out.WriteString(`},"removed":[],"repodata_version":1}`)
	return out.Bytes()
}

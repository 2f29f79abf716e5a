// Package envtest builds conda packages with the project's own writer
// (package condapkg) and installs them into a prefix the way conda does,
// for tests of the environment audit: files extracted, prefix
// placeholders replaced, conda-meta/NAME-VERSION-BUILD.json written with
// "files" and "paths_data".
//
// It installs only what it is given; it resolves nothing and is not an
// installer for real use.
package envtest

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/envaudit"
)

// Placeholder is the build prefix written into files with a prefix, as
// long as conda-build's (255 bytes), so that any test prefix fits in a
// binary file.
var Placeholder = "/opt/conda-bld/demo_1700000000000/_h_env" + strings.Repeat("_placehold", 26)[:255-len("/opt/conda-bld/demo_1700000000000/_h_env")]

// File is one path of a package built by [Spec].
type File struct {
	Path string
	Data []byte
	// Mode is envaudit.Text or envaudit.Binary for a file holding
	// [Placeholder], "" for none.
	Mode envaudit.FileMode
	// Symlink, when set, makes the path a symbolic link to it.
	Symlink string
}

// SampleFiles are the files of a typical compiled package: a script with
// the prefix in its shebang and body (text), a shared library with the
// prefix in a C string (binary), a shared library without one and a
// symbolic link to it, and a plain data file.
func SampleFiles() []File {
	so := []byte("\x7fELF\x02\x01\x01\x00fake shared object\x00")
	so = append(so, "RPATH="+Placeholder+"/lib\x00"...)
	so = append(so, "\x00\x01\x02\x03 trailing data\x00"...)
	return []File{
		{Path: "bin/demo-tool", Mode: envaudit.Text,
			Data: []byte("#!" + Placeholder + "/bin/python\nimport sys\nPREFIX = '" + Placeholder + "'\nprint(PREFIX)\n")},
		{Path: "lib/libdemo.so", Mode: envaudit.Binary, Data: so},
		{Path: "lib/libplain.so.1", Data: []byte("\x7fELF\x02\x01\x01\x00plain shared object, no prefix\x00\xff\xfe")},
		{Path: "lib/libplain.so", Symlink: "libplain.so.1"},
		{Path: "share/demo/README.txt", Data: []byte("demo package\n")},
	}
}

// Spec returns a package of subdir (noarch when "") with files and the
// info/paths.json and info/files that describe them, as conda-build
// writes them.
func Spec(name, version, build, subdir string, files []File) condapkg.Spec {
	s := condapkg.Spec{Name: name, Version: version, Build: build, Subdir: subdir,
		Files: map[string][]byte{}, Symlinks: map[string]string{}}
	type entry struct {
		Path        string `json:"_path"`
		PathType    string `json:"path_type"`
		SHA256      string `json:"sha256,omitempty"`
		Size        *int64 `json:"size_in_bytes,omitempty"`
		Placeholder string `json:"prefix_placeholder,omitempty"`
		FileMode    string `json:"file_mode,omitempty"`
	}
	var entries []entry
	var list []string
	for _, f := range files {
		list = append(list, f.Path)
		if f.Symlink != "" {
			s.Symlinks[f.Path] = f.Symlink
			entries = append(entries, entry{Path: f.Path, PathType: "softlink"})
			continue
		}
		s.Files[f.Path] = f.Data
		sum := sha256.Sum256(f.Data)
		n := int64(len(f.Data))
		e := entry{Path: f.Path, PathType: "hardlink", SHA256: hex.EncodeToString(sum[:]), Size: &n}
		if f.Mode != "" {
			e.Placeholder, e.FileMode = Placeholder, string(f.Mode)
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	sort.Strings(list)
	pj, err := json.MarshalIndent(map[string]any{"paths": entries, "paths_version": 1}, "", "  ")
	if err != nil {
		panic(err)
	}
	s.Files[envaudit.PathsJSON] = pj
	s.Files["info/files"] = []byte(strings.Join(list, "\n") + "\n")
	return s
}

// Options tune [Install].
type Options struct {
	// ChannelURL is the channel recorded in conda-meta ("url" is
	// ChannelURL/SUBDIR/FN); default https://conda.example/channel.
	ChannelURL string
	// Prefix replaces placeholders; default the absolute path of the
	// prefix folder.
	Prefix string
}

// Install installs the package archive at pkgPath into prefix as conda
// does and writes its conda-meta record. It returns the record's path.
func Install(prefix, pkgPath string, opts Options) (string, error) {
	if opts.ChannelURL == "" {
		opts.ChannelURL = "https://conda.example/channel"
	}
	if opts.Prefix == "" {
		abs, err := filepath.Abs(prefix)
		if err != nil {
			return "", err
		}
		opts.Prefix = abs
	}
	// First pass: index.json and paths.json.
	var index struct {
		Name, Version, Build, Subdir string
		BuildNumber                  int `json:"build_number"`
	}
	var paths *envaudit.Paths
	err := condapkg.Walk(pkgPath, condapkg.ExtractOptions{}, func(m condapkg.Member, r io.Reader) error {
		switch m.Name {
		case condapkg.IndexJSONPath:
			data, err := io.ReadAll(r)
			if err == nil {
				err = json.Unmarshal(data, &index)
			}
			return err
		case envaudit.PathsJSON:
			data, err := io.ReadAll(r)
			if err == nil {
				paths, err = envaudit.ParsePaths(data)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	byPath := map[string]envaudit.PathEntry{}
	if paths != nil { // without one (an old package), nothing is relocated
		for _, e := range paths.Entries {
			byPath[e.Path] = e
		}
	}
	reloc := envaudit.NewRelocation(opts.Prefix, index.Subdir, runtime.GOOS)
	root, err := os.OpenRoot(mkdir(prefix))
	if err != nil {
		return "", err
	}
	defer root.Close()
	type pathData struct {
		Path     string `json:"_path"`
		PathType string `json:"path_type"`
		SHA256   string `json:"sha256,omitempty"`
		Size     int64  `json:"size_in_bytes,omitempty"`
	}
	var files []string
	var data []pathData
	err = condapkg.Walk(pkgPath, condapkg.ExtractOptions{}, func(m condapkg.Member, r io.Reader) error {
		if m.Name == "info" || strings.HasPrefix(m.Name, "info/") {
			return nil
		}
		if dir := path.Dir(m.Name); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		switch m.Type {
		case condapkg.MemberSymlink:
			files = append(files, m.Name)
			data = append(data, pathData{Path: m.Name, PathType: "softlink"})
			return root.Symlink(m.Linkname, m.Name)
		case condapkg.MemberFile:
		default:
			return fmt.Errorf("envtest: %s: member type %d not supported", m.Name, m.Type)
		}
		content, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if e := byPath[m.Name]; e.Placeholder != "" {
			if content, err = reloc.Apply(content, e.Placeholder, e.Mode); err != nil {
				return err
			}
		}
		if err := root.WriteFile(m.Name, content, m.Mode|0o600); err != nil {
			return err
		}
		sum := sha256.Sum256(content)
		files = append(files, m.Name)
		data = append(data, pathData{Path: m.Name, PathType: "hardlink", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content))})
		return nil
	})
	if err != nil {
		return "", err
	}
	raw, err := os.ReadFile(pkgPath)
	if err != nil {
		return "", err
	}
	sum, md := sha256.Sum256(raw), md5.Sum(raw)
	fn := filepath.Base(pkgPath)
	channel := strings.TrimRight(opts.ChannelURL, "/")
	meta := map[string]any{
		"name": index.Name, "version": index.Version, "build": index.Build, "build_number": index.BuildNumber,
		"fn": fn, "url": channel + "/" + index.Subdir + "/" + fn, "channel": channel + "/" + index.Subdir,
		"subdir": index.Subdir, "sha256": hex.EncodeToString(sum[:]), "md5": hex.EncodeToString(md[:]),
		"size": len(raw), "depends": []string{}, "files": files,
		"paths_data": map[string]any{"paths": data, "paths_version": 1},
		"link":       map[string]any{"source": "", "type": 1},
	}
	out, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return "", err
	}
	stem := index.Name + "-" + index.Version + "-" + index.Build
	if err := root.MkdirAll("conda-meta", 0o755); err != nil {
		return "", err
	}
	if err := root.WriteFile("conda-meta/"+stem+".json", out, 0o644); err != nil {
		return "", err
	}
	return filepath.Join(prefix, "conda-meta", stem+".json"), nil
}

func mkdir(dir string) string {
	os.MkdirAll(dir, 0o755)
	return dir
}

package envaudit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// PathsJSON is the member of a package archive that lists what it
// installs.
const PathsJSON = "info/paths.json"

// MaxPathsJSON caps the size of an info/paths.json that [ParsePaths]
// accepts: 64 MiB, over 300,000 entries.
const MaxPathsJSON = 64 << 20

// PathType is how conda installs a path (paths.json "path_type").
type PathType string

// The path types conda-build writes into paths.json.
const (
	Hardlink  PathType = "hardlink"  // a regular file (linked or copied)
	Softlink  PathType = "softlink"  // a symbolic link
	Directory PathType = "directory" // an empty directory
)

// FileMode says how a prefix placeholder in a file is replaced
// (paths.json "file_mode").
type FileMode string

// The file modes of paths.json.
const (
	Text   FileMode = "text"
	Binary FileMode = "binary"
)

// PathEntry is one entry of info/paths.json.
type PathEntry struct {
	// Path is the slash-separated path relative to the prefix ("_path").
	Path string
	Type PathType
	// SHA256 is the lower-case hex digest of the file in the archive, ""
	// when paths.json gives none.
	SHA256 string
	// Size is "size_in_bytes", -1 when absent.
	Size int64
	// Placeholder is "prefix_placeholder": the build prefix that conda
	// replaces with the environment's prefix at install time, "" for none.
	Placeholder string
	// Mode is "file_mode", Text when a placeholder is given without one
	// (as conda-build's info/has_prefix defaults), "" without placeholder.
	Mode FileMode
	// NoLink is "no_link": conda copies the file instead of linking it.
	NoLink bool
}

// Paths is a parsed info/paths.json.
type Paths struct {
	Version int
	Entries []PathEntry
}

type rawPaths struct {
	Paths        []rawEntry `json:"paths"`
	PathsVersion *int       `json:"paths_version"`
}

type rawEntry struct {
	Path        *string `json:"_path"`
	PathType    string  `json:"path_type"`
	SHA256      *string `json:"sha256"`
	Size        *int64  `json:"size_in_bytes"`
	Placeholder *string `json:"prefix_placeholder"`
	FileMode    *string `json:"file_mode"`
	NoLink      *bool   `json:"no_link"`
}

// ParsePaths parses an info/paths.json document. It refuses, with a
// [*FormatError] matching [ErrMalformed]: a document that is not a JSON
// object with a "paths" array and "paths_version" 1 (absent is taken as
// 1); an entry whose "_path" is empty, absolute, holds a "." or ".."
// segment, a backslash or a NUL, or repeats an earlier one; a
// "path_type" other than hardlink, softlink and directory (absent is
// hardlink, as in conda); a "sha256" that is not 64 hex digits; a
// negative "size_in_bytes"; a "file_mode" other than text and binary, or
// one without a "prefix_placeholder"; an empty placeholder.
func ParsePaths(data []byte) (*Paths, error) {
	if len(data) > MaxPathsJSON {
		return nil, formatErr(PathsJSON, "", "%d bytes, more than the %d-byte limit", len(data), MaxPathsJSON)
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, formatErr(PathsJSON, "", "not a JSON object")
	}
	var raw rawPaths
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, formatErr(PathsJSON, "", "not valid paths.json: %v", err)
	}
	p := &Paths{Version: 1}
	if raw.PathsVersion != nil {
		p.Version = *raw.PathsVersion
	}
	if p.Version != 1 {
		return nil, formatErr(PathsJSON, "paths_version", "version %d; only version 1 is known", p.Version)
	}
	if raw.Paths == nil {
		return nil, formatErr(PathsJSON, "paths", "missing")
	}
	seen := make(map[string]bool, len(raw.Paths))
	p.Entries = make([]PathEntry, 0, len(raw.Paths))
	for i, r := range raw.Paths {
		field := fmt.Sprintf("paths[%d]", i)
		if r.Path == nil {
			return nil, formatErr(PathsJSON, field, "no \"_path\"")
		}
		e := PathEntry{Path: *r.Path, Type: PathType(r.PathType), Size: -1}
		if reason := checkRelPath(e.Path); reason != "" {
			return nil, formatErr(PathsJSON, field, "_path %q: %s", e.Path, reason)
		}
		if seen[e.Path] {
			return nil, formatErr(PathsJSON, field, "_path %q: listed twice", e.Path)
		}
		seen[e.Path] = true
		switch e.Type {
		case "":
			e.Type = Hardlink
		case Hardlink, Softlink, Directory:
		default:
			return nil, formatErr(PathsJSON, field, "path_type %q: not hardlink, softlink or directory", r.PathType)
		}
		if r.SHA256 != nil {
			s := strings.ToLower(*r.SHA256)
			if b, err := hex.DecodeString(s); err != nil || len(b) != 32 {
				return nil, formatErr(PathsJSON, field, "sha256 %q: not 64 hex digits", *r.SHA256)
			}
			e.SHA256 = s
		}
		if r.Size != nil {
			if *r.Size < 0 {
				return nil, formatErr(PathsJSON, field, "size_in_bytes %d: negative", *r.Size)
			}
			e.Size = *r.Size
		}
		if r.Placeholder != nil {
			if *r.Placeholder == "" {
				return nil, formatErr(PathsJSON, field, "prefix_placeholder is empty")
			}
			e.Placeholder, e.Mode = *r.Placeholder, Text
		}
		if r.FileMode != nil {
			switch m := FileMode(*r.FileMode); {
			case m != Text && m != Binary:
				return nil, formatErr(PathsJSON, field, "file_mode %q: not text or binary", *r.FileMode)
			case e.Placeholder == "":
				return nil, formatErr(PathsJSON, field, "file_mode %q without a prefix_placeholder", *r.FileMode)
			default:
				e.Mode = m
			}
		}
		if e.Placeholder != "" && e.Type != Hardlink {
			return nil, formatErr(PathsJSON, field, "prefix_placeholder on a %s: only files are relocated", e.Type)
		}
		e.NoLink = r.NoLink != nil && *r.NoLink
		p.Entries = append(p.Entries, e)
	}
	return p, nil
}

// checkRelPath returns why p is not a plain relative slash path, or "".
func checkRelPath(p string) string {
	switch {
	case p == "":
		return "empty"
	case strings.HasPrefix(p, "/"):
		return "absolute"
	case strings.ContainsAny(p, "\\\x00"):
		return "holds a backslash or NUL"
	case len(p) > 1 && p[1] == ':':
		return "a drive letter"
	case path.Clean(p) != p:
		return "not a clean path (\".\", \"..\", \"//\" or a trailing slash)"
	case p == ".." || strings.HasPrefix(p, "../"):
		return "leaves the prefix"
	}
	return ""
}

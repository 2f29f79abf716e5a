package envaudit

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Meta is what the audit reads from a conda-meta/NAME-VERSION-BUILD.json
// record: what conda says it installed.
type Meta struct {
	// File is the record's path, for messages.
	File                 string
	Name, Version, Build string
	Subdir               string
	// Files is the "files" list: every path conda linked or created for
	// the package, relative to the prefix.
	Files []string
	// Generated are the paths of "paths_data" that conda created at
	// install time rather than took from the archive: compiled .pyc files
	// and Python entry points (path types pyc_file,
	// unix_python_entry_point, windows_python_entry_point_script,
	// windows_python_entry_point_exe, linked_package_record).
	Generated []string
	// NoarchPython is true for a noarch: python package, whose
	// site-packages/ and python-scripts/ paths conda moves into the
	// environment's Python.
	NoarchPython bool
}

// generatedTypes are the paths_data path types conda creates itself.
var generatedTypes = map[string]bool{
	"pyc_file":                          true,
	"unix_python_entry_point":           true,
	"windows_python_entry_point_script": true,
	"windows_python_entry_point_exe":    true,
	"linked_package_record":             true,
}

// ParseMeta reads a conda-meta record. file names it in errors. A
// record that is not a JSON object, or whose "files" is not a list of
// plain relative paths, is refused with a [*FormatError].
func ParseMeta(data []byte, file string) (*Meta, error) {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, formatErr(file, "", "not a JSON object")
	}
	var raw struct {
		Name        string          `json:"name"`
		Version     string          `json:"version"`
		Build       string          `json:"build"`
		Subdir      string          `json:"subdir"`
		Files       []string        `json:"files"`
		Noarch      json.RawMessage `json:"noarch"`
		PackageType string          `json:"package_type"`
		PathsData   struct {
			Paths []struct {
				Path     string `json:"_path"`
				PathType string `json:"path_type"`
			} `json:"paths"`
		} `json:"paths_data"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, formatErr(file, "", "not a conda-meta record: %v", err)
	}
	m := &Meta{File: file, Name: raw.Name, Version: raw.Version, Build: raw.Build, Subdir: raw.Subdir, Files: raw.Files}
	for i, f := range m.Files {
		if reason := checkRelPath(f); reason != "" {
			return nil, formatErr(file, "files", "entry %d %q: %s", i, f, reason)
		}
	}
	for _, p := range raw.PathsData.Paths {
		if generatedTypes[p.PathType] && checkRelPath(p.Path) == "" {
			m.Generated = append(m.Generated, p.Path)
		}
	}
	// "noarch" is a string ("python") in records of recent conda and an
	// object ({"type": "python"}) in older ones.
	var s string
	var obj struct {
		Type string `json:"type"`
	}
	switch {
	case json.Unmarshal(raw.Noarch, &s) == nil:
	case json.Unmarshal(raw.Noarch, &obj) == nil:
		s = obj.Type
	}
	m.NoarchPython = strings.EqualFold(s, "python") || raw.PackageType == "noarch_python"
	return m, nil
}

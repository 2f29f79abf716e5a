package envaudit_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/condatrust/condatrust/envaudit"
)

func utf16le(s string) string {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return string(b)
}

// TestRelocation: the replacements of conda/core/portability.py, each
// case worked out by hand from its rules.
func TestRelocation(t *testing.T) {
	linux := envaudit.Relocation{Prefix: "/env", MaxShebang: 127}
	for _, c := range []struct {
		name string
		r    envaudit.Relocation
		mode envaudit.FileMode
		in   string
		want string
		err  bool
	}{
		{"text everywhere", linux, envaudit.Text, "#!/ph/bin/python\nA=/ph/lib:/ph\n", "#!/env/bin/python\nA=/env/lib:/env\n", false},
		{"text longer prefix", envaudit.Relocation{Prefix: "/a/much/longer/prefix", MaxShebang: 127}, envaudit.Text, "x=/ph\n", "x=/a/much/longer/prefix\n", false},
		{"text space in shebang", envaudit.Relocation{Prefix: "/my env", MaxShebang: 127}, envaudit.Text,
			"#!/ph/bin/python -E\nx='/ph'\n", "#!/usr/bin/env python -E\nx='/my env'\n", false},
		{"text long shebang", envaudit.Relocation{Prefix: "/" + strings.Repeat("d", 130), MaxShebang: 127}, envaudit.Text,
			"#!/ph/bin/perl -w\n", "#!/usr/bin/env perl -w\n", false},
		{"text long shebang on macOS", envaudit.Relocation{Prefix: "/" + strings.Repeat("d", 130), MaxShebang: 512}, envaudit.Text,
			"#!/ph/bin/perl -w\n", "#!/" + strings.Repeat("d", 130) + "/bin/perl -w\n", false},
		{"text utf-16", linux, envaudit.Text, "a" + utf16le("/ph/x"), "a" + utf16le("/env/x"), false},
		{"text windows", envaudit.Relocation{Prefix: `C:\conda\env`, Windows: true}, envaudit.Text,
			"#!/ph/python\nset P=/ph\n", "#!C:/conda/env/python\nset P=C:/conda/env\n", false},
		{"binary pads", envaudit.Relocation{Prefix: "/x"}, envaudit.Binary, "a/ph/lib\x00b", "a/x/lib\x00\x00b", false},
		{"binary twice in one string", envaudit.Relocation{Prefix: "/x"}, envaudit.Binary,
			"/ph:/ph\x00/ph\x00", "/x:/x\x00\x00\x00/x\x00\x00", false},
		{"binary without NUL", envaudit.Relocation{Prefix: "/x"}, envaudit.Binary, "\x00/ph/lib", "\x00/ph/lib", false},
		{"binary same length", envaudit.Relocation{Prefix: "/ab"}, envaudit.Binary, "/ph\x00", "/ab\x00", false},
		{"binary utf-16", envaudit.Relocation{Prefix: "/x"}, envaudit.Binary,
			utf16le("/ph") + "\x00\x00", utf16le("/x") + "\x00\x00\x00\x00", false},
		{"binary prefix too long", envaudit.Relocation{Prefix: "/longer"}, envaudit.Binary, "/ph\x00", "", true},
		{"binary windows not pyzzer", envaudit.Relocation{Prefix: "/x", Windows: true}, envaudit.Binary, "/ph\x00", "/ph\x00", false},
		{"unknown mode", linux, "octal", "/ph", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.r.Apply([]byte(c.in), "/ph", c.mode)
			if c.err {
				if !errors.Is(err, envaudit.ErrRelocation) {
					t.Fatalf("got %q, %v; want an ErrRelocation", got, err)
				}
				return
			}
			if err != nil || string(got) != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

// TestRelocationPyzzer: in a Windows entry point executable (launcher,
// shebang, zip), only the shebang is relocated.
func TestRelocationPyzzer(t *testing.T) {
	zipPart := []byte("PK\x03\x04local/ph\x00PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00")
	// central directory size 0, offset = length before the end record,
	// so the archive starts right after the shebang.
	off := uint32(bytes.Index(zipPart, []byte("PK\x05\x06")))
	zipPart = append(zipPart, byte(0), byte(0), byte(0), byte(0), byte(off), byte(off>>8), byte(off>>16), byte(off>>24), 0, 0)
	exe := append([]byte("MZlauncher/ph\x00#!/ph/python.exe\r\n"), zipPart...)
	r := envaudit.Relocation{Prefix: "/a", Windows: true}
	got, err := r.Apply(exe, "/ph", envaudit.Binary)
	if !errors.Is(err, envaudit.ErrRelocation) {
		t.Fatalf("a shebang of another length: %q, %v", got, err)
	}
	r.Prefix = "/ab"
	got, err = r.Apply(exe, "/ph", envaudit.Binary)
	want := append([]byte("MZlauncher/ph\x00#!/ab/python.exe\r\n"), zipPart...)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %q, %v\nwant %q", got, err, want)
	}
}

func TestNewRelocation(t *testing.T) {
	for _, c := range []struct {
		subdir, host string
		windows      bool
		shebang      int
	}{
		{"linux-64", "linux", false, 127},
		{"win-64", "linux", true, 127},
		{"noarch", "windows", true, 512},
		{"noarch", "darwin", false, 512},
		{"osx-arm64", "darwin", false, 512},
	} {
		r := envaudit.NewRelocation("/p", c.subdir, c.host)
		if r.Windows != c.windows || r.MaxShebang != c.shebang {
			t.Errorf("%s on %s: %+v", c.subdir, c.host, r)
		}
	}
}

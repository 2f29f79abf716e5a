package envaudit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Relocation is the prefix replacement conda applies to a file with a
// prefix placeholder when it installs it (conda/core/portability.py,
// update_prefix). It is a value: build one per environment with
// [NewRelocation] and apply it with [Relocation.Apply].
type Relocation struct {
	// Prefix is the environment's prefix as conda saw it: the absolute
	// path it was installed to.
	Prefix string
	// Windows is true for a package of a win-* subdir, or a noarch
	// package installed on Windows.
	Windows bool
	// MaxShebang is the longest shebang line (in bytes, "#!" included)
	// left as is in a text file: 127 when conda ran on Linux, 512
	// elsewhere. A longer one, or one whose interpreter folder holds an
	// escaped space, is rewritten to "#!/usr/bin/env NAME".
	MaxShebang int
}

// NewRelocation returns the relocation of a package of subdir installed
// at prefix by conda running on hostOS (a GOOS value such as "linux").
// As in conda, a noarch package is treated as a Windows one only when the
// host is Windows.
func NewRelocation(prefix, subdir, hostOS string) Relocation {
	r := Relocation{Prefix: prefix, MaxShebang: 512}
	if hostOS == "linux" {
		r.MaxShebang = 127
	}
	if os, _, ok := strings.Cut(subdir, "-"); ok {
		r.Windows = strings.EqualFold(os, "win")
	} else {
		r.Windows = hostOS == "windows"
	}
	return r
}

// ErrRelocation is matched by the errors of [Relocation.Apply]: the
// replacement conda would have refused, so an installed file cannot be
// expected to hold it.
var ErrRelocation = errors.New("prefix replacement impossible")

// The encodings conda tries the placeholder in, in order
// (POPULAR_ENCODINGS).
var encodings = []string{"utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"}

// encode returns s in one of the encodings above, without a byte-order
// mark. Invalid UTF-8 in s is kept as is in utf-8 and becomes U+FFFD in
// the others.
func encode(s, enc string) []byte {
	if enc == "utf-8" {
		return []byte(s)
	}
	var out []byte
	put := func(units []uint16, big bool) {
		for _, u := range units {
			if big {
				out = binary.BigEndian.AppendUint16(out, u)
			} else {
				out = binary.LittleEndian.AppendUint16(out, u)
			}
		}
	}
	for _, r := range s {
		switch enc {
		case "utf-16-le", "utf-16-be":
			if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError || r2 != utf8.RuneError {
				put([]uint16{uint16(r1), uint16(r2)}, enc == "utf-16-be")
			} else {
				put([]uint16{uint16(r)}, enc == "utf-16-be")
			}
		case "utf-32-le":
			out = binary.LittleEndian.AppendUint32(out, uint32(r))
		case "utf-32-be":
			out = binary.BigEndian.AppendUint32(out, uint32(r))
		}
	}
	return out
}

// Apply returns data as conda writes it after replacing placeholder with
// r.Prefix in mode. data is not modified. The rules, as in conda:
//
//  1. Text mode on Windows: backslashes in the prefix become slashes.
//  2. The placeholder is replaced in each of UTF-8, UTF-16-LE, UTF-16-BE,
//     UTF-32-LE and UTF-32-BE, in that order, each pass on the result of
//     the previous one.
//  3. Text mode (not Windows): if the first line (up to the first "\n"
//     byte) holds "#!" + placeholder, those are replaced by "#!" + the
//     prefix with each space escaped as "\ "; then every occurrence of the
//     placeholder in the file is replaced by the prefix.
//  4. Binary mode (not Windows): each run that starts with the
//     placeholder and ends at the first NUL (the encoding's NUL: 1, 2 or 4
//     zero bytes) after it has every placeholder in it replaced, and as
//     many zero bytes as the run got shorter appended, so the file keeps
//     its length. A prefix longer than the placeholder is an error, as is
//     a placeholder without a NUL after it left alone.
//  5. Binary mode on Windows: only the shebang of a pyzzer (distlib)
//     entry point executable, the text between the last "#!" and the zip
//     archive at its end, is replaced; other binaries are left as they are.
//  6. Text mode (not Windows), after all passes: a shebang line
//     "#![ ]*/path/name options" longer than r.MaxShebang, or whose folder
//     holds "\ ", becomes "#!/usr/bin/env name options" (everywhere that
//     exact line occurs in the file).
//  7. Binary mode: the result must have the length of data.
func (r Relocation) Apply(data []byte, placeholder string, mode FileMode) ([]byte, error) {
	if placeholder == "" {
		return nil, fmt.Errorf("%w: empty placeholder", ErrRelocation)
	}
	prefix := r.Prefix
	if r.Windows && mode == Text {
		prefix = strings.ReplaceAll(prefix, "\\", "/")
	}
	out := data
	for _, enc := range encodings {
		search, repl := encode(placeholder, enc), encode(prefix, enc)
		switch mode {
		case Text:
			if !r.Windows {
				if nl := bytes.IndexByte(out, '\n'); nl > -1 {
					bang := encode("#!"+placeholder, enc)
					if bytes.Contains(out[:nl], bang) {
						esc := encode("#!"+strings.ReplaceAll(prefix, " ", "\\ "), enc)
						out = append(bytes.ReplaceAll(out[:nl], bang, esc), out[nl:]...)
					}
				}
			}
			out = bytes.ReplaceAll(out, search, repl)
		case Binary:
			var err error
			if r.Windows {
				out, err = replacePyzzer(out, search, repl)
			} else {
				out, err = replaceCStrings(out, search, repl, encode("\x00", enc))
			}
			if err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: unknown file mode %q", ErrRelocation, mode)
		}
	}
	if mode == Text && !r.Windows {
		var err error
		if out, err = shortenShebang(out, r.MaxShebang); err != nil {
			return nil, err
		}
	}
	if mode == Binary && len(out) != len(data) {
		return nil, fmt.Errorf("%w: the binary file would change length from %d to %d bytes", ErrRelocation, len(data), len(out))
	}
	if bytes.Equal(out, data) {
		return data, nil
	}
	return out, nil
}

// replaceCStrings is conda's binary_replace: every match of
// search, then any bytes up to the first zeros, then zeros, has each
// search in it replaced by repl and is padded with NUL bytes to its old
// length. Matching resumes after the match.
func replaceCStrings(data, search, repl, zeros []byte) ([]byte, error) {
	var out []byte
	i := 0
	for {
		j := bytes.Index(data[i:], search)
		if j < 0 {
			break
		}
		start := i + j
		k := bytes.Index(data[start+len(search):], zeros)
		if k < 0 {
			// No terminator after this occurrence, so none after any later
			// one either: nothing more matches.
			break
		}
		end := start + len(search) + k + len(zeros)
		match := data[start:end]
		n := bytes.Count(match, search)
		pad := (len(search) - len(repl)) * n
		if pad < 0 {
			return nil, fmt.Errorf("%w: the prefix (%d bytes) is longer than the placeholder (%d bytes) in a binary file", ErrRelocation, len(repl), len(search))
		}
		if out == nil {
			out = make([]byte, 0, len(data))
		}
		out = append(out, data[i:start]...)
		out = append(out, bytes.ReplaceAll(match, search, repl)...)
		out = append(out, make([]byte, pad)...)
		i = end
	}
	if out == nil {
		return data, nil
	}
	return append(out, data[i:]...), nil
}

// replacePyzzer is conda's replace_pyzzer_entry_point_shebang: in a
// launcher + shebang + zip file, search is replaced by repl in the
// shebang only.
func replacePyzzer(data, search, repl []byte) ([]byte, error) {
	pos := bytes.LastIndex(data, []byte("PK\x05\x06"))
	if pos < 0 {
		return data, nil
	}
	if pos+20 > len(data) {
		return nil, fmt.Errorf("%w: truncated zip end record in an entry point executable", ErrRelocation)
	}
	cdrSize := int64(binary.LittleEndian.Uint32(data[pos+12:]))
	cdrOffset := int64(binary.LittleEndian.Uint32(data[pos+16:]))
	arc := int64(pos) - cdrSize - cdrOffset
	if arc <= 0 {
		return data, nil
	}
	bang := bytes.LastIndex(data[:arc], []byte("#!"))
	if bang <= 0 {
		return data, nil // no shebang, or no launcher before it
	}
	out := make([]byte, 0, len(data))
	out = append(out, data[:bang]...)
	out = append(out, bytes.ReplaceAll(data[bang:arc], search, repl)...)
	return append(out, data[arc:]...), nil
}

// shortenShebang is conda's replace_long_shebang.
func shortenShebang(data []byte, limit int) ([]byte, error) {
	if !bytes.HasPrefix(data, []byte("#!")) {
		return data, nil
	}
	i := 2
	for i < len(data) && data[i] == ' ' {
		i++
	}
	if i >= len(data) || data[i] != '/' {
		return data, nil
	}
	exeStart := i
	for i < len(data) {
		if data[i] == '\\' && i+1 < len(data) && data[i+1] == ' ' {
			i += 2
			continue
		}
		if c := data[i]; c == ' ' || c == '\n' || c == '\r' || c == '\t' {
			break
		}
		i++
	}
	exe := data[exeStart:i]
	end := bytes.IndexByte(data[i:], '\n')
	if end < 0 {
		end = len(data)
	} else {
		end += i
	}
	whole, options := data[:end], data[i:end]
	if !utf8.Valid(exe) || !utf8.Valid(options) {
		return nil, fmt.Errorf("%w: the shebang line is not valid UTF-8", ErrRelocation)
	}
	slash := bytes.LastIndexByte(exe, '/')
	folder, name := exe[:slash], exe[slash+1:]
	if len(whole) <= limit && !bytes.Contains(folder, []byte("\\ ")) {
		return data, nil
	}
	short := append([]byte("#!/usr/bin/env "), name...)
	short = append(short, options...)
	return bytes.ReplaceAll(data, whole, short), nil
}

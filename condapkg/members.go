package condapkg

import (
	"archive/tar"
	"fmt"
	"path"
)

// memberKind is what a normalised member name stands for in a package.
type memberKind uint8

const (
	kindImplicitDir memberKind = iota + 1 // a parent of some member, no entry of its own
	kindDir
	kindFile
	kindSymlink
	kindHardlink
)

// memberSet checks the members of one package as they stream by: duplicate
// names, members below a symbolic link, and links that leave the package.
// With those rules a symbolic link can be resolved lexically, so a link that
// passes cannot reach outside the package even through other links.
type memberSet struct {
	kinds map[string]memberKind
}

func newMemberSet() *memberSet { return &memberSet{kinds: make(map[string]memberKind)} }

// add records the member with the normalised name and tar header hdr. It
// returns the error kind and a reason when the member is not acceptable.
func (m *memberSet) add(name string, hdr *tar.Header) (kind error, reason string) {
	var k memberKind
	switch hdr.Typeflag {
	case tar.TypeReg:
		k = kindFile
	case tar.TypeDir:
		k = kindDir
	case tar.TypeSymlink:
		k = kindSymlink
	case tar.TypeLink:
		k = kindHardlink
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return ErrMalformed, fmt.Sprintf("device or fifo member (tar type %q) not allowed in a package", hdr.Typeflag)
	default:
		return ErrMalformed, fmt.Sprintf("unsupported tar member type %q", hdr.Typeflag)
	}
	if hdr.Size < 0 || (k != kindFile && hdr.Size != 0) {
		return ErrMalformed, fmt.Sprintf("invalid size %d for this member type", hdr.Size)
	}
	// Parents: none may be a link or a file. Stop at the first parent already
	// known as a directory: its own parents were checked when it was added.
parents:
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		switch m.kinds[d] {
		case kindImplicitDir, kindDir:
			break parents
		case kindSymlink, kindHardlink:
			return ErrUnsafePath, fmt.Sprintf("member is below %q, which is a link", d)
		case kindFile:
			return ErrMalformed, fmt.Sprintf("member is below %q, which is a file", d)
		default:
			m.kinds[d] = kindImplicitDir
		}
	}
	if prev, ok := m.kinds[name]; ok {
		isDir := prev == kindDir || prev == kindImplicitDir
		switch {
		case isDir && k == kindDir:
			// a directory entry repeated, or after its contents: harmless
		case isDir:
			return ErrDuplicate, "member name is also a directory"
		default:
			return ErrDuplicate, "member name occurs more than once"
		}
	}
	switch k {
	case kindSymlink:
		if r := symlinkUnsafe(name, hdr.Linkname); r != "" {
			return ErrUnsafePath, r
		}
	case kindHardlink:
		target, bad := cleanName(hdr.Linkname)
		if bad != "" {
			return ErrUnsafePath, fmt.Sprintf("hard link target %q: %s", hdr.Linkname, bad)
		}
		if t := m.kinds[target]; t != kindFile && t != kindHardlink {
			return ErrMalformed, fmt.Sprintf("hard link to %q, which is not an earlier regular file", hdr.Linkname)
		}
	}
	m.kinds[name] = k
	return nil, ""
}

package index

import (
	"testing"
)

// TestVersionOrderDocumented checks the order conda documents for
// VersionOrder (conda/models/version.py): each line sorts after the one
// before it, or equals it where conda says "==".
func TestVersionOrderDocumented(t *testing.T) {
	steps := []struct {
		v     string
		equal bool // equal to the previous one
	}{
		{"0.4", false}, {"0.4.0", true}, {"0.4.1.rc", false}, {"0.4.1.RC", true},
		{"0.4.1", false}, {"0.5a1", false}, {"0.5b3", false}, {"0.5C1", false},
		{"0.5", false}, {"0.9.6", false}, {"0.960923", false}, {"1.0", false},
		{"1.1dev1", false}, {"1.1_", false}, {"1.1a1", false}, {"1.1.0dev1", false},
		{"1.1.dev1", true}, {"1.1.a1", false}, {"1.1.0rc1", false}, {"1.1.0", false},
		{"1.1", true}, {"1.1.0post1", false}, {"1.1.post1", true}, {"1.1post1", false},
		{"1996.07.12", false}, {"1!0.4.1", false}, {"1!3.1.1.6", false}, {"2!0.4.1", false},
	}
	// conda's docstring lists 0.4 < 0.4.0, but its own comparison makes
	// them equal (a missing piece counts as 0); the code is what decides.
	prev, err := ParseVersion(steps[0].v)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps[1:] {
		cur, err := ParseVersion(s.v)
		if err != nil {
			t.Fatalf("%s: %v", s.v, err)
		}
		want := 1
		if s.equal {
			want = 0
		}
		if got := cur.Compare(prev); got != want {
			t.Errorf("compare(%s, %s) = %d, want %d", s.v, prev, got, want)
		}
		if got := prev.Compare(cur); got != -want {
			t.Errorf("compare(%s, %s) = %d, want %d", prev, s.v, got, -want)
		}
		prev = cur
	}
}

func TestVersionOrderMore(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0.1", "1.0.1a", 1},   // conda, not openssl, ordering
		{"1.0.1_", "1.0.1a", -1}, // the openssl work-around
		{"1.2g.beta15.rc", "1.2g.beta15.rc", 0},
		{"1!2.15.1_ALPHA", "1!2.15.1_alpha", 0},
		{"1.0+local.1", "1.0+local.2", -1},
		{"1.0+local", "1.0", -1}, // a local string piece sorts below the missing 0
		{"1.0+2", "1.0", 1},
		{"2.0", "10.0", -1},
		{"1.0-2", "1.0_2", 0}, // dashes are underscores when there is none
		{"000010", "9", 1},
		{"1.0.dev", "1.0.a", -1},
		{"1.0.post", "1.0.999", -1}, // 0 is put before a leading letter: [0, post] < [999]
		{"1.0post", "1.0.999", 1},
		{"1*", "1", -1},
	} {
		a, err := ParseVersion(c.a)
		if err != nil {
			t.Fatalf("%s: %v", c.a, err)
		}
		b, err := ParseVersion(c.b)
		if err != nil {
			t.Fatalf("%s: %v", c.b, err)
		}
		if got := a.Compare(b); got != c.want {
			t.Errorf("compare(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	for _, bad := range []string{"", " ", "1..2", "1!2!3", "a!1", "1+2+3", "+1", "1.0-2_3", "1,2", "1 2", "1.", "é"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
	}
}

func TestVersionSpecMatch(t *testing.T) {
	for _, c := range []struct {
		spec    string
		version string
		want    bool
	}{
		{"1.2.*", "1.2.3", true}, {"1.2.*", "1.2", true}, {"1.2.*", "1.20", false}, {"1.2.*", "1.3", false},
		{"1.2*", "1.2.0", true}, {"1.2", "1.2.0", true}, {"1.2", "1.2.1", false},
		{">=1.0,<2", "1.5", true}, {">=1.0,<2", "2.0", false}, {">=1.0,<2|3.*", "3.1", true},
		{"(>=1.0,<2)|3.*", "2.5", false}, {"!=1.1", "1.1.0", false}, {"!=1.1.*", "1.1.5", false},
		{"~=1.2.3", "1.2.9", true}, {"~=1.2.3", "1.3.0", false}, {"~=1.2.3", "1.2.2", false},
		{"*", "anything", true}, {"^1\\.[0-9]+$", "1.23", true}, {"^1\\.[0-9]+$", "1.2.3", false},
		{"1.*.3", "1.2.3", true}, {"=1.2", "1.2.7", true}, {"==1.2", "1.2.0", true}, {"1.0a*", "1.0a1", true},
		{"1.1.*", "1.1.0a", true},
	} {
		vs, err := parseVersionSpec(c.spec)
		if err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		if got := vs.match(c.version); got != c.want {
			t.Errorf("%q matches %q: %v, want %v", c.spec, c.version, got, c.want)
		}
	}
}

func TestParseMatchSpec(t *testing.T) {
	rec := func(name, version, build string, bn int64) *currentRec {
		vo, ok := parseVersionCached(version)
		return &currentRec{name: name, version: version, vo: vo, voOK: ok, build: build, buildNumber: bn}
	}
	for _, c := range []struct {
		spec string
		rec  *currentRec
		want bool
	}{
		{"python", rec("python", "3.12.1", "h1_0", 0), true},
		{"python 3.12.*", rec("python", "3.12.1", "h1_0", 0), true},
		{"python >=3.9,<3.12", rec("python", "3.12.1", "h1_0", 0), false},
		{"python 3.12.1 h1_*", rec("python", "3.12.1", "h1_0", 0), true},
		{"python 3.12.1 h2_*", rec("python", "3.12.1", "h1_0", 0), false},
		{"python=3.12=h1_0", rec("python", "3.12.1", "h1_0", 0), false}, // =3.12 with a build is exact
		{"python=3.12.1=h1_0", rec("python", "3.12.1", "h1_0", 0), true},
		{"python=3.12", rec("python", "3.12.1", "h1_0", 0), true},
		{"Python", rec("python", "1", "0", 0), true},
		{"numpy[version='>=1.20', build=py*]", rec("numpy", "1.26", "py312_0", 0), true},
		{"numpy[version='>=1.20', build=py*]", rec("numpy", "1.19", "py312_0", 0), false},
		{"numpy[build_number='>=3']", rec("numpy", "1.19", "x", 2), false},
		{"numpy[build_number=2]", rec("numpy", "1.19", "x", 2), true},
		{"conda-forge::numpy", rec("numpy", "1.19", "x", 2), false},
		{"numpy >=1.0 # a comment", rec("numpy", "1.19", "x", 2), true},
		{"numpy >=2 if __unix", rec("numpy", "1.19", "x", 2), false},
		{"numpy", rec("numpy-base", "1.19", "x", 2), false},
	} {
		ms, err := parseMatchSpec(c.spec)
		if err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		if got := ms.match(c.rec, "linux-64"); got != c.want {
			t.Errorf("%q matches %+v: %v, want %v", c.spec, *c.rec, got, c.want)
		}
	}
}

// FuzzParseVersion checks that parsing never panics and that the order is
// consistent: antisymmetric, and reflexive.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.0", "1!2.0+local_1", "1.1_", "1.0dev1", "1.0post", "0.5C1", "1.0-2", "*"} {
		f.Add(s, "1.0")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, errA := ParseVersion(a)
		vb, errB := ParseVersion(b)
		if errA != nil || errB != nil {
			return
		}
		if va.Compare(va) != 0 {
			t.Fatalf("%q != itself", a)
		}
		if va.Compare(vb) != -vb.Compare(va) {
			t.Fatalf("compare(%q, %q) not antisymmetric", a, b)
		}
		_ = va.StartsWith(vb)
	})
}

// FuzzParseMatchSpec checks that parsing a dependency never panics.
func FuzzParseMatchSpec(f *testing.F) {
	for _, s := range []string{"python >=3.9,<3.12", "numpy[version='>=1', build=py*]", "a=1=b", "c::d 1.*", "(x", "x ^1.*$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := parseMatchSpec(s)
		if err != nil {
			return
		}
		vo, ok := parseVersionCached("1.0")
		ms.match(&currentRec{name: ms.name, version: "1.0", vo: vo, voOK: ok, build: "0"}, "noarch")
	})
}

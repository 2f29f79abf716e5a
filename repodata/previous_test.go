package repodata

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/internal/testvectors"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// verifyKeep verifies data with a copy of v with Keep set (and prev as
// Previous) and returns the report and its trusted document (nil when
// WriteTrusted fails).
func verifyKeep(t testing.TB, v Verifier, prev *Report, data []byte) (*Report, []byte) {
	t.Helper()
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	v.Keep, v.Previous = true, prev
	rep, err := v.Verify(f)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := WriteTrusted(&out, f, rep); err != nil {
		return rep, nil
	}
	return rep, out.Bytes()
}

// checkAgainstFresh verifies docB with vB and Previous set to prev, and
// from scratch, and checks that both give the same results and the same
// trusted document. It returns the report made with Previous.
func checkAgainstFresh(t testing.TB, vB Verifier, prev *Report, docB string) *Report {
	t.Helper()
	rep, out := verifyKeep(t, vB, prev, []byte(docB))
	fresh, want := verifyKeep(t, vB, nil, []byte(docB))
	if !reflect.DeepEqual(rep.Results, fresh.Results) {
		t.Fatalf("with Previous:\n%+v\nfrom scratch:\n%+v", rep.Results, fresh.Results)
	}
	if rep.Trusted != fresh.Trusted || rep.Untrusted != fresh.Untrusted || rep.Unsigned != fresh.Unsigned {
		t.Fatalf("counts with Previous %s, from scratch %s", statuses(rep), statuses(fresh))
	}
	if !bytes.Equal(out, want) {
		t.Fatalf("trusted document with Previous:\n%s\nfrom scratch:\n%s", out, want)
	}
	if fresh.Reused != 0 || fresh.PreviousIgnored != "" {
		t.Fatalf("without Previous: reused %d, ignored %q", fresh.Reused, fresh.PreviousIgnored)
	}
	return rep
}

func TestVerifyPrevious(t *testing.T) {
	k1, k2, k3 := testKey(t, "pkg_mgr-1"), testKey(t, "pkg_mgr-2"), testKey(t, "attacker")
	signed := signString(t, cacheInput, false, k1, k2)
	signedK1 := signString(t, cacheInput, false, k1)
	f, _ := Parse([]byte(signed))
	ra, _ := f.Lookup(Packages, "a-1.0-0.tar.bz2")
	aEntry := `"a-1.0-0.tar.bz2": ` + string(ra.Raw)
	var k1sigB string
	eb, _ := f.signaturesOf("b-2.0-0.tar.bz2")
	eachSignature(eb.raw, func(key, sig []byte) {
		if string(key) == k1.Public().String() {
			k1sigB = string(sig)
		}
	})
	flipped := []byte(k1sigB)
	flipped[10] ^= 1 // '0'..'9' and 'a'..'f' stay hex with the low bit flipped, mostly
	if !strings.ContainsRune("0123456789abcdef", rune(flipped[10])) {
		flipped[10] = '0'
	}
	grown := strings.Replace(cacheInput, `"packages.conda":{`,
		`"packages.conda":{"d-4.0-0.conda":{"build":"0","name":"d","subdir":"noarch","version":"4.0"},`, 1)

	base := Verifier{pkgMgr: delegation(1, k1, k2), Workers: 2}
	for _, c := range []struct {
		name     string
		a, b     string   // the previous document and the one verified now
		prevV, v Verifier // Verifiers of a and b
		reused   int
		ignored  bool   // Previous is ignored as a whole
		want     string // statuses of b
	}{
		{name: "identical", a: signed, b: signed, reused: 3,
			want: "a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=trusted c-3.0-0.conda=trusted"},
		{name: "record byte changed", a: signed, b: mustReplace(t, signed, `"size": 2`, `"size": 7`), reused: 2,
			want: "a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=untrusted c-3.0-0.conda=trusted"},
		{name: "record layout changed", a: signed, b: mustReplace(t, signed, `"size": 2`, `"size":  2`), reused: 2,
			want: "a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=trusted c-3.0-0.conda=trusted"},
		{name: "signature byte changed", a: signed, b: mustReplace(t, signed, k1sigB, string(flipped)), reused: 2,
			want: "a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=trusted c-3.0-0.conda=trusted"}, // by k2 only now
		{name: "signature broken, threshold 2", a: signed, b: mustReplace(t, signed, k1sigB, string(flipped)), reused: 2,
			prevV: Verifier{pkgMgr: delegation(2, k1, k2)}, v: Verifier{pkgMgr: delegation(2, k1, k2)},
			want: "a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=untrusted c-3.0-0.conda=trusted"},
		{name: "signature entry layout changed", a: signed, b: mustReplace(t, signed, `"signature": "`+k1sigB, `"signature":"`+k1sigB), reused: 2,
			want: "a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=trusted c-3.0-0.conda=trusted"},
		{name: "section moved", a: signed,
			b:      mustReplace(t, mustReplace(t, signed, aEntry+",", ""), `"packages.conda": {`, `"packages.conda": {`+aEntry+","),
			reused: 2, want: "b-2.0-0.tar.bz2=trusted a-1.0-0.tar.bz2=untrusted c-3.0-0.conda=trusted"},
		{name: "record added", a: signed, b: signString(t, grown, false, k1, k2), reused: 3,
			want: "a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=trusted c-3.0-0.conda=trusted d-4.0-0.conda=trusted"},
		{name: "record gone", a: signString(t, grown, false, k1, k2), b: signed, reused: 3,
			want: "a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=trusted c-3.0-0.conda=trusted"},
		{name: "untrusted and unsigned reused", a: mustReplace(t, signed, `"size": 2`, `"size": 7`), b: mustReplace(t, signed, `"size": 2`, `"size": 7`),
			reused: 3, want: "a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=untrusted c-3.0-0.conda=trusted"},
		{name: "no signatures at all", a: cacheInput, b: cacheInput, reused: 3,
			want: "a-1.0-0.tar.bz2=unsigned b-2.0-0.tar.bz2=unsigned c-3.0-0.conda=unsigned"},
		{name: "no signatures to none for it", a: cacheInput, b: strings.Replace(cacheInput, `"removed"`, `"signatures":{},"removed"`, 1),
			want: "a-1.0-0.tar.bz2=unsigned b-2.0-0.tar.bz2=unsigned c-3.0-0.conda=unsigned"},
		{name: "none for it to no signatures", a: strings.Replace(cacheInput, `"removed"`, `"signatures":{},"removed"`, 1), b: cacheInput,
			want: "a-1.0-0.tar.bz2=unsigned b-2.0-0.tar.bz2=unsigned c-3.0-0.conda=unsigned"},
		{name: "subdir given, the same", a: signed, b: signed, v: Verifier{pkgMgr: delegation(1, k1, k2), Subdir: "noarch"}, reused: 3,
			want: "a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=trusted c-3.0-0.conda=trusted"},
		{name: "subdir given, another", a: signed, b: signed, v: Verifier{pkgMgr: delegation(1, k1, k2), Subdir: "linux-64"}, ignored: true,
			want: "a-1.0-0.tar.bz2=untrusted b-2.0-0.tar.bz2=untrusted c-3.0-0.conda=untrusted"},
		{name: "info.subdir changed", a: signed, b: mustReplace(t, signed, "\"subdir\": \"noarch\"\n  }", "\"subdir\": \"linux-64\"\n  }"), ignored: true,
			want: "a-1.0-0.tar.bz2=untrusted b-2.0-0.tar.bz2=untrusted c-3.0-0.conda=untrusted"},
		{name: "key rotated", a: signed, b: signed, v: Verifier{pkgMgr: delegation(1, k2)}, ignored: true,
			want: "a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=trusted c-3.0-0.conda=trusted"}, // by k2 alone
		{name: "key rotated away", a: signed, b: signed, v: Verifier{pkgMgr: delegation(1, k3)}, ignored: true,
			want: "a-1.0-0.tar.bz2=untrusted b-2.0-0.tar.bz2=untrusted c-3.0-0.conda=untrusted"},
		{name: "key added", a: signed, b: signed, v: Verifier{pkgMgr: delegation(1, k1, k2, k3)}, ignored: true,
			want: "a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=trusted c-3.0-0.conda=trusted"},
		{name: "keys reordered", a: signed, b: signed, v: Verifier{pkgMgr: delegation(1, k2, k1)}, ignored: true,
			want: "a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=trusted c-3.0-0.conda=trusted"},
		{name: "threshold raised", a: signedK1, b: signedK1, v: Verifier{pkgMgr: delegation(2, k1, k2)}, ignored: true,
			want: "a-1.0-0.tar.bz2=untrusted b-2.0-0.tar.bz2=untrusted c-3.0-0.conda=untrusted"},
		{name: "threshold lowered", a: signedK1, b: signedK1, prevV: Verifier{pkgMgr: delegation(2, k1, k2)}, ignored: true,
			want: "a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=trusted c-3.0-0.conda=trusted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pv, v := base, base
			if c.prevV.pkgMgr.Keys != nil {
				pv = c.prevV
			}
			if c.v.pkgMgr.Keys != nil {
				v = c.v
			}
			prev, _ := verifyKeep(t, pv, nil, []byte(c.a))
			rep := checkAgainstFresh(t, v, prev, c.b)
			if got := statuses(rep); got != c.want {
				t.Errorf("statuses %s, want %s", got, c.want)
			}
			if rep.Reused != c.reused || (rep.PreviousIgnored != "") != c.ignored {
				t.Errorf("reused %d (ignored: %q), want %d (ignored: %v)", rep.Reused, rep.PreviousIgnored, c.reused, c.ignored)
			}
		})
	}
}

// A report that itself reused results serves as Previous in turn, and a
// report made without Keep is not used.
func TestVerifyPreviousChain(t *testing.T) {
	k1 := testKey(t, "pkg_mgr-1")
	v := Verifier{pkgMgr: delegation(1, k1), Workers: 2}
	docs := []string{signString(t, cacheInput, false, k1)}
	docs = append(docs, mustReplace(t, docs[0], `"size": 2`, `"size": 7`))
	docs = append(docs, signString(t, strings.Replace(cacheInput, `"size":2`, `"size":7`, 1), false, k1))
	docs = append(docs, docs[2])
	var prev *Report
	for i, d := range docs {
		rep := checkAgainstFresh(t, v, prev, d)
		if want := []int{0, 2, 2, 3}[i]; rep.Reused != want {
			t.Errorf("document %d: reused %d, want %d", i, rep.Reused, want)
		}
		prev = rep
	}

	f, _ := Parse([]byte(docs[0]))
	noKeep, err := (&Verifier{pkgMgr: delegation(1, k1)}).Verify(f)
	if err != nil {
		t.Fatal(err)
	}
	rep := checkAgainstFresh(t, v, noKeep, docs[0])
	if rep.Reused != 0 || !strings.Contains(rep.PreviousIgnored, "Keep") {
		t.Errorf("previous report without Keep: reused %d, ignored %q", rep.Reused, rep.PreviousIgnored)
	}
	// Without Keep now, a previous report made with Keep is used.
	g, _ := Parse([]byte(docs[0]))
	rep, err = (&Verifier{pkgMgr: delegation(1, k1), Previous: prev}).Verify(g)
	if err != nil || rep.Reused != 2 || rep.Trusted != 3 {
		t.Errorf("without Keep: %v, reused %d, %s", err, rep.Reused, statuses(rep))
	}
}

// Reused records are not looked up in the signature cache, and the
// previous report's file may be closed (unmapped): only the report is read.
func TestVerifyPreviousClosedFile(t *testing.T) {
	withoutBatch(t) // counts lookups and reads: see withoutBatch
	k1 := testKey(t, "pkg_mgr-1")
	dir := t.TempDir()
	a := filepath.Join(dir, "a.json")
	doc := signString(t, cacheInput, false, k1)
	if err := os.WriteFile(a, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newCountingCache(64)
	v := &Verifier{pkgMgr: delegation(1, k1), Keep: true, Cache: c}
	fa, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	prev, err := v.Verify(fa)
	if err != nil {
		t.Fatal(err)
	}
	if err := fa.Close(); err != nil {
		t.Fatal(err)
	}
	changed := mustReplace(t, doc, `"size": 2`, `"size": 7`)
	if err := os.WriteFile(a, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	fb, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	before := c.hits.Load() + c.misses.Load()
	v.Previous = prev
	rep, err := v.Verify(fb)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Reused != 2 || statuses(rep) != "a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=untrusted c-3.0-0.conda=trusted" {
		t.Fatalf("reused %d: %s", rep.Reused, statuses(rep))
	}
	if n := c.hits.Load() + c.misses.Load() - before; n != 1 {
		t.Errorf("%d cache lookups for one changed record with one signature (%s)", n, c.counts())
	}
	var out bytes.Buffer
	if _, err := WriteTrusted(&out, fb, rep); err != nil {
		t.Fatal(err)
	}
	_, want := verifyKeep(t, Verifier{pkgMgr: delegation(1, k1)}, nil, []byte(changed))
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("trusted document:\n%s\nwant\n%s", out.Bytes(), want)
	}
}

// What is compared with Previous is the bytes copied out of the file, and
// those same bytes are what is verified: a rewrite in place after the copy
// changes neither the comparison nor the verdict.
func TestVerifyPreviousCopiesFirst(t *testing.T) {
	withoutBatch(t) // counts lookups and reads: see withoutBatch
	k1 := testKey(t, "pkg_mgr-1")
	signed := signString(t, cacheInput, false, k1)
	v := Verifier{pkgMgr: delegation(1, k1), Workers: 1, Keep: true}
	prev, want := verifyKeep(t, v, nil, []byte(signed))
	for _, c := range []struct {
		name       string
		doc        string
		from, to   string // the rewrite, made right after c-3.0-0.conda was copied
		reused     int
		wantStatus string
	}{
		// The file changes to another record after the copy: the copy
		// equals Previous's and its result is reused.
		{"unchanged, rewritten to changed", signed, `"size": 3`, `"size": 9`, 3,
			"a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=trusted c-3.0-0.conda=trusted"},
		// The copy differs from Previous and is verified (untrusted); the
		// file rewritten back to the previous bytes changes nothing.
		{"changed, rewritten to unchanged", mustReplace(t, signed, `"size": 3`, `"size": 9`), `"size": 9`, `"size": 3`, 2,
			"a-1.0-0.tar.bz2=trusted b-2.0-0.tar.bz2=trusted c-3.0-0.conda=untrusted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := []byte(c.doc)
			f, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			calls := 0
			testHookRecordRead = func() {
				if calls++; calls == 3 { // records go in order with one worker: a, b, c
					i := bytes.Index(data, []byte(c.from))
					copy(data[i:], c.to)
				}
			}
			defer func() { testHookRecordRead = nil }()
			v.Previous = prev
			rep, err := v.Verify(f)
			if err != nil {
				t.Fatal(err)
			}
			if calls != 3 || rep.Reused != c.reused || statuses(rep) != c.wantStatus {
				t.Fatalf("%d reads, reused %d: %s", calls, rep.Reused, statuses(rep))
			}
			if c.reused == 3 {
				var out bytes.Buffer
				if _, err := WriteTrusted(&out, f, rep); err != nil || !bytes.Equal(out.Bytes(), want) {
					t.Errorf("trusted document (%v):\n%s\nwant\n%s", err, out.Bytes(), want)
				}
			}
		})
	}
}

// FuzzVerifyPrevious: for any documents a and b, verifying b with the
// report of a as Previous gives what verifying b from scratch gives
// (results, counts, trusted document, or an error for both), and reuses
// exactly the records of b whose section, name, bytes and signatures
// entry's bytes are those of a record of a, when both were verified under
// the same delegation and subdir, and none otherwise.
func FuzzVerifyPrevious(f *testing.F) {
	key, err := signer.NewKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	harness, err := signer.ReadKeyFile(testvectors.Local("vectors/cct/harness_chain/pkg_mgr.pri"))
	if err != nil {
		f.Fatal(err)
	}
	hs := testvectors.ReadLocal(f, "vectors/cct/harness_chain/repodata.signed.json")
	f.Add(hs, hs, byte(0))
	f.Add(hs, testvectors.ReadLocal(f, "vectors/cct/harness_chain/repodata.input.json"), byte(0))
	grown := strings.Replace(cacheInput, `"packages.conda":{`,
		`"packages.conda":{"d-4.0-0.conda":{"build":"0","name":"d","subdir":"noarch","version":"4.0"},`, 1)
	for _, in := range []string{cacheInput, tamperInput} {
		var docs [][]byte
		for _, src := range []string{in, grown} {
			p, err := Parse([]byte(src))
			if err != nil {
				f.Fatal(err)
			}
			for _, compact := range []bool{false, true} {
				var b bytes.Buffer
				if _, err := Sign(&b, p, SignOptions{Signers: []signer.Signer{key}, Compact: compact}); err != nil {
					f.Fatal(err)
				}
				docs = append(docs, b.Bytes(), bytes.Replace(b.Bytes(), []byte(`"0"`), []byte(`"1"`), 1))
			}
		}
		for i, a := range docs {
			f.Add(a, a, byte(i))
			f.Add(a, docs[(i+1)%len(docs)], byte(0))
			f.Add(a, docs[(i+2)%len(docs)], byte(1))
		}
	}
	delegations := []trust.Delegation{
		{Keys: []trust.PublicKey{key.Public(), harness.Public()}, Threshold: 1},
		{Keys: []trust.PublicKey{harness.Public(), key.Public()}, Threshold: 1},
		{Keys: []trust.PublicKey{key.Public(), harness.Public()}, Threshold: 2},
		{Keys: []trust.PublicKey{key.Public()}, Threshold: 1},
	}
	sigState := func(f *File, fn string) (byte, []byte) {
		if !f.hasSigs {
			return 0, nil
		}
		e, ok := f.signaturesOf(fn)
		if !ok {
			return 1, nil
		}
		return 2, e.raw
	}
	f.Fuzz(func(t *testing.T, a, b []byte, mode byte) {
		withSmallChunks(t, 16)
		fa, err := Parse(a)
		if err != nil {
			return
		}
		va := Verifier{pkgMgr: delegations[0], Workers: 2, Keep: true}
		if mode&0x10 != 0 {
			va.Subdir = "noarch"
		}
		prev, err := va.Verify(fa)
		if err != nil {
			return
		}
		fb, err := Parse(b)
		if err != nil {
			return
		}
		vb := Verifier{pkgMgr: delegations[mode%4], Workers: 2, Keep: true, Cache: NewMemoryCache(64)}
		if mode&0x20 != 0 {
			vb.Subdir = "noarch"
		}
		fresh, errF := vb.Verify(fb)
		gb, _ := Parse(b)
		vb.Previous = prev
		rep, err := vb.Verify(gb)
		if (err == nil) != (errF == nil) {
			t.Fatalf("with Previous: %v; from scratch: %v", err, errF)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(rep.Results, fresh.Results) || rep.Trusted != fresh.Trusted || rep.Untrusted != fresh.Untrusted || rep.Unsigned != fresh.Unsigned {
			t.Fatalf("with Previous:\n%+v\nfrom scratch:\n%+v", rep.Results, fresh.Results)
		}
		var out, want bytes.Buffer
		_, err = WriteTrusted(&out, gb, rep)
		_, errF = WriteTrusted(&want, fb, fresh)
		if (err == nil) != (errF == nil) || !bytes.Equal(out.Bytes(), want.Bytes()) {
			t.Fatalf("trusted document with Previous (%v):\n%s\nfrom scratch (%v):\n%s", err, out.Bytes(), errF, want.Bytes())
		}
		// Which records may be reused, found the long way.
		expect := 0
		sa, sb := va.subdir(fa), vb.subdir(gb)
		if mode%4 == 0 && sa == sb {
			for _, r := range gb.Records() {
				p, ok := fa.Lookup(r.Section, r.Filename)
				if !ok || !bytes.Equal(p.Raw, r.Raw) {
					continue
				}
				ka, ea := sigState(fa, r.Filename)
				kb, eb := sigState(gb, r.Filename)
				if ka == kb && bytes.Equal(ea, eb) {
					expect++
				}
			}
		}
		if rep.Reused != expect || (mode%4 != 0 || sa != sb) != (rep.PreviousIgnored != "") {
			t.Fatalf("reused %d (ignored: %q), want %d", rep.Reused, rep.PreviousIgnored, expect)
		}
	})
}

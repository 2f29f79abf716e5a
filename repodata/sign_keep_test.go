package repodata

import (
	"bytes"
	"strings"
	"testing"

	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

// TestSignKeepOthers: pkg_mgr holders sign in turn. The second holder's
// run with KeepOthers gives the same bytes as one run with both keys, in
// both layouts; without KeepOthers the first holder's signatures go and
// are counted.
func TestSignKeepOthers(t *testing.T) {
	k1, k2 := testKey(t, "pkg_mgr-1"), testKey(t, "pkg_mgr-2")
	in := synthRepodata([]int{1, 2, 3, 4, 5, 6, 7}, nil)
	d := &trust.Delegation{Keys: []trust.PublicKey{k1.Public(), k2.Public()}, Threshold: 2}
	for _, compact := range []bool{false, true} {
		both, _ := signBytes(t, in, SignOptions{Signers: []signer.Signer{k1, k2}, Compact: compact})
		first, st := signBytes(t, in, SignOptions{Signers: []signer.Signer{k1}, Compact: compact, PkgMgr: d})
		if st.ThresholdMet != 0 || st.DroppedSignatures() != 0 {
			t.Errorf("first holder: %+v", st)
		}
		second, st := signBytes(t, first, SignOptions{Signers: []signer.Signer{k2}, Compact: compact, PkgMgr: d, KeepOthers: true})
		if !bytes.Equal(second, both) {
			t.Errorf("compact=%v: signing in turn differs from signing with both keys at once\n got: %s\nwant: %s", compact, second, both)
		}
		if st.Kept != 7 || st.ThresholdMet != 7 || st.DroppedSignatures() != 0 || st.DroppedRecords != 0 {
			t.Errorf("compact=%v: second holder: %+v", compact, st)
		}
		// The first holder signs again with KeepOthers: k2's are kept, k1's replaced.
		again, st := signBytes(t, second, SignOptions{Signers: []signer.Signer{k1}, Compact: compact, PkgMgr: d, KeepOthers: true})
		if !bytes.Equal(again, both) || st.Kept != 7 || st.DroppedSignatures() != 0 {
			t.Errorf("compact=%v: re-sign by the first holder: %+v", compact, st)
		}
		// Without KeepOthers, k1's signatures are dropped and counted.
		_, st = signBytes(t, first, SignOptions{Signers: []signer.Signer{k2}, Compact: compact, PkgMgr: d})
		want := []Dropped{{Key: k1.Public().String(), Reason: DropNotKept, Signatures: 7}}
		if st.DroppedRecords != 7 || !equalDropped(st.Dropped, want) || st.ThresholdMet != 0 {
			t.Errorf("compact=%v: without KeepOthers: %+v", compact, st)
		}
	}
}

// TestSignKeepOthersDrops: signatures by a key key_mgr does not delegate,
// that do not verify, or of a record that is gone are dropped with their
// reason; the valid ones are kept.
func TestSignKeepOthersDrops(t *testing.T) {
	k1, k2, stranger := testKey(t, "pkg_mgr-1"), testKey(t, "pkg_mgr-2"), testKey(t, "attacker")
	d := &trust.Delegation{Keys: []trust.PublicKey{k1.Public(), k2.Public()}, Threshold: 2}
	in := synthRepodata([]int{1, 2, 3, 4}, nil)
	signed, _ := signBytes(t, in, SignOptions{Signers: []signer.Signer{k1, stranger}})
	// Record 2 changes after signing (k1's signature of it no longer
	// verifies); record 4 is removed (its entry stays behind).
	edited := synthRepodata([]int{1, 2, 3}, map[int]bool{2: true})
	f := mustParse(t, string(signed))
	var sigs strings.Builder
	sigs.WriteString(`{`)
	for i, e := range f.sigs {
		if i > 0 {
			sigs.WriteString(",")
		}
		sigs.WriteString(`"` + e.fn + `":` + string(e.raw))
	}
	sigs.WriteString(`}`)
	input := append(edited[:len(edited)-1:len(edited)-1], []byte(`,"signatures":`+sigs.String()+`}`)...)

	out, st := signBytes(t, input, SignOptions{Signers: []signer.Signer{k2}, PkgMgr: d, KeepOthers: true})
	if st.Kept != 2 || st.ThresholdMet != 2 || st.DroppedRecords != 4 {
		t.Errorf("stats %+v", st)
	}
	want := []Dropped{
		{Key: k1.Public().String(), Reason: DropInvalid, Signatures: 1},
		{Key: k1.Public().String(), Reason: DropNoRecord, Signatures: 1},
		{Key: stranger.Public().String(), Reason: DropNoRecord, Signatures: 1},
		{Key: stranger.Public().String(), Reason: DropUnauthorized, Signatures: 3},
	}
	sortDropped(want)
	if !equalDropped(st.Dropped, want) {
		t.Errorf("dropped %+v\nwant %+v", st.Dropped, want)
	}
	if bytes.Contains(out, []byte(stranger.Public().String())) {
		t.Error("the stranger's signatures are still in the output")
	}
	// Every kept or made signature verifies: records meeting 2-of-2 are
	// exactly the unchanged ones.
	trusted := 0
	of := mustParse(t, string(out))
	for _, r := range of.Records() {
		if verifyOne(t, string(out), *d, r.Filename).Status == Trusted {
			trusted++
		}
	}
	if trusted != 2 {
		t.Errorf("%d records trusted 2-of-2, want 2", trusted)
	}

	if _, err := Sign(&bytes.Buffer{}, mustParse(t, string(in)), SignOptions{Signers: []signer.Signer{k1}, KeepOthers: true}); err == nil {
		t.Error("KeepOthers without PkgMgr: no error")
	}
}

func sortDropped(d []Dropped) {
	for i := range d {
		for j := i + 1; j < len(d); j++ {
			if d[j].Key < d[i].Key || d[j].Key == d[i].Key && d[j].Reason < d[i].Reason {
				d[i], d[j] = d[j], d[i]
			}
		}
	}
}

func equalDropped(a, b []Dropped) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

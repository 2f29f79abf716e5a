package client_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/client/clienttest"
	"github.com/condatrust/condatrust/trust"
)

const memBase = "https://channel.example/ch"

// memEnv is a client over an in-memory channel, for tests that need no
// sockets.
func memEnv(t *testing.T, ch *clienttest.Channel) (*client.Client, *client.MemoryFetcher) {
	t.Helper()
	store := &client.Store{Dir: t.TempDir()}
	if _, _, err := store.Add(memBase, "", ch.File("1.root.json"), trust.Options{At: ch.Now}); err != nil {
		t.Fatal(err)
	}
	mf := client.NewMemoryFetcher(ch.URLs(memBase))
	return &client.Client{Fetcher: mf, Store: store, Policy: trust.Options{At: ch.Now}}, mf
}

func update(t *testing.T, c *client.Client) (*client.State, error) {
	t.Helper()
	return c.Update(context.Background(), memBase)
}

// TestUpdateRotation walks 1 -> 2 -> 3 with root key rotations, stores
// each root canonically, and verifies key_mgr against the newest root.
func TestUpdateRotation(t *testing.T) {
	ch := clienttest.New()
	// v2 rotates root1 -> root2 (signed by both); v3 adds root3 with
	// threshold 2 and rotates the key_mgr key.
	ch.SetFile("2.root.json", ch.Root(clienttest.RootSpec{Version: 2, RootKeys: []string{"root2"}, SignedBy: []string{"root1", "root2"}}))
	ch.SetFile("3.root.json", ch.Root(clienttest.RootSpec{Version: 3, RootKeys: []string{"root2", "root3"}, Threshold: 2,
		KeyMgrKeys: []string{"key_mgr2"}}))
	ch.SetFile("key_mgr.json", ch.KeyMgr(clienttest.KeyMgrSpec{Version: 2, SignedBy: []string{"key_mgr2"}}))
	c, _ := memEnv(t, ch)
	st, err := update(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if st.Root.Version != 3 || st.KeyMgr.Version != 2 || len(st.RootsAdded) != 2 || st.RootsAdded[1] != 3 {
		t.Fatalf("state: root %s, key_mgr %s, added %v", st.Root.Name(), st.KeyMgr.Name(), st.RootsAdded)
	}
	chn, _ := c.Store.Channel(memBase)
	for _, v := range []string{"2", "3"} {
		got, err := os.ReadFile(filepath.Join(chn.Dir, v+".root.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, ch.File(v+".root.json")) { // clienttest writes canonical bytes
			t.Errorf("%s.root.json is not stored canonically", v)
		}
	}
	// A second update finds nothing new.
	st, err = update(t, c)
	if err != nil || len(st.RootsAdded) != 0 || st.Root.Version != 3 {
		t.Fatalf("second update: %v, %+v", err, st)
	}
}

// TestUpdateOnlyFinalRootExpiryCounts: an intermediate root that expired
// is fine; the final root must not be expired.
func TestUpdateOnlyFinalRootExpiryCounts(t *testing.T) {
	ch := clienttest.New()
	ch.SetFile("1.root.json", ch.Root(clienttest.RootSpec{Version: 1, Expires: ch.Now.Add(time.Hour)}))
	ch.SetFile("2.root.json", ch.Root(clienttest.RootSpec{Version: 2, Expires: ch.Now.AddDate(2, 0, 0)}))
	ch.SetFile("key_mgr.json", ch.KeyMgr(clienttest.KeyMgrSpec{Expires: ch.Now.AddDate(2, 0, 0)}))
	c, _ := memEnv(t, ch)
	c.Policy.At = ch.Now.Add(2 * time.Hour) // root v1 has expired
	st, err := update(t, c)
	if err != nil {
		t.Fatalf("an expired intermediate root must not matter: %v", err)
	}
	if st.Root.Version != 2 {
		t.Errorf("final root %s", st.Root.Name())
	}

	// Without the newer root, the stored (final) root is expired.
	ch2 := clienttest.New()
	ch2.SetFile("1.root.json", ch2.Root(clienttest.RootSpec{Version: 1, Expires: ch2.Now.Add(time.Hour)}))
	c2, _ := memEnv(t, ch2)
	c2.Policy.At = ch2.Now.Add(2 * time.Hour)
	_, err = update(t, c2)
	checkRefusal(t, err, trust.ErrVerification, trust.RuleExpired, "root v1: expired at")

	// An explicit waiver accepts it and says so.
	c2.Policy.AllowExpired = true
	st, err = update(t, c2)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Warnings) == 0 || !strings.Contains(strings.Join(st.Warnings, "\n"), "root v1 expired") {
		t.Errorf("waiver not reported: %q", st.Warnings)
	}
}

// TestUpdateRefusalKeepsVerifiedRoots: roots verified before a refused
// one stay stored; the refused one is not.
func TestUpdateRefusalKeepsVerifiedRoots(t *testing.T) {
	ch := clienttest.New()
	ch.SetFile("2.root.json", ch.Root(clienttest.RootSpec{Version: 2}))
	ch.SetFile("3.root.json", ch.Root(clienttest.RootSpec{Version: 3, RootKeys: []string{"attacker"}}))
	c, _ := memEnv(t, ch)
	st, err := update(t, c)
	checkRefusal(t, err, trust.ErrVerification, trust.RuleThreshold, "3.root.json: root v3: not signed by a threshold of the trusted root v2's root keys")
	if len(st.RootsAdded) != 1 || st.RootsAdded[0] != 2 {
		t.Errorf("roots added = %v", st.RootsAdded)
	}
	chn, _ := c.Store.Channel(memBase)
	vs, _ := chn.RootVersions()
	if len(vs) != 2 || vs[1] != 2 {
		t.Errorf("stored roots = %v, want [1 2]", vs)
	}
}

func TestUpdateBoundedHops(t *testing.T) {
	ch := clienttest.New()
	for v := int64(2); v <= 4; v++ {
		ch.SetFile(strconv.FormatInt(v, 10)+".root.json", ch.Root(clienttest.RootSpec{Version: v}))
	}
	c, mf := memEnv(t, ch)
	c.Limits.MaxRootUpdates = 2
	st, err := update(t, c)
	checkRefusal(t, err, client.ErrTooManyRoots, "", "2 roots accepted in one update (limit 2)")
	if len(st.RootsAdded) != 2 {
		t.Errorf("roots added = %v", st.RootsAdded)
	}
	if n := mf.Requests(memBase + "/5.root.json"); n != 0 {
		t.Errorf("fetched 5.root.json %d times past the limit", n)
	}
	// Running again continues from v3.
	st, err = update(t, c)
	if err != nil || st.Root.Version != 4 {
		t.Fatalf("second update: %v, %v", err, st)
	}
}

func TestKeyMgrRollback(t *testing.T) {
	ch := clienttest.New()
	ch.SetFile("key_mgr.json", ch.KeyMgr(clienttest.KeyMgrSpec{Version: 2}))
	c, mf := memEnv(t, ch)
	if _, err := update(t, c); err != nil {
		t.Fatal(err)
	}
	mf.Set(memBase+"/key_mgr.json", ch.KeyMgr(clienttest.KeyMgrSpec{Version: 1}))
	_, err := update(t, c)
	checkRefusal(t, err, trust.ErrVerification, trust.RuleRollback, "version 1 is lower than the already trusted key_mgr v2")

	c.AllowKeyMgrRollback = true
	st, err := update(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if st.KeyMgr.Version != 1 || len(st.Warnings) != 2 || !strings.Contains(st.Warnings[0], "explicitly allowed") || !strings.Contains(st.Warnings[1], "not stored") {
		t.Errorf("state %+v", st)
	}
	chn, _ := c.Store.Channel(memBase)
	if km, _ := chn.StoredKeyMgr(); km.Version != 2 {
		t.Errorf("the rolled-back key_mgr replaced the stored v2 (stored v%d)", km.Version)
	}
}

// TestLoadReverifiesStoredKeyMgr: offline use re-verifies the stored
// key_mgr against the newest root and checks expiry.
func TestLoadReverifiesStoredKeyMgr(t *testing.T) {
	ch := clienttest.New()
	c, _ := memEnv(t, ch)
	_, err := c.Load(memBase)
	checkRefusal(t, err, trust.ErrVerification, trust.RuleMissing, "no verified key_mgr is stored")

	if _, err := update(t, c); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Load(memBase); err != nil || st.KeyMgr.Version != 1 {
		t.Fatalf("load: %v", err)
	}
	c.Policy.At = ch.Now.AddDate(0, 7, 0) // key_mgr expired, root not
	_, err = c.Load(memBase)
	checkRefusal(t, err, trust.ErrVerification, trust.RuleExpired, "key_mgr v1: expired")

	// A root rotating the key_mgr key makes the stored key_mgr untrusted.
	c.Policy.At = ch.Now
	chn, _ := c.Store.Channel(memBase)
	os.WriteFile(filepath.Join(chn.Dir, "2.root.json"), ch.Root(clienttest.RootSpec{Version: 2, KeyMgrKeys: []string{"key_mgr2"}}), 0o644)
	_, err = c.Load(memBase)
	checkRefusal(t, err, trust.ErrVerification, trust.RuleThreshold, "stored key_mgr.json: key_mgr v1: not signed by a threshold of the key_mgr keys of root v2")
}

func TestStoreAdd(t *testing.T) {
	ch := clienttest.New()
	s := &client.Store{Dir: t.TempDir()}
	opts := trust.Options{At: ch.Now}

	_, _, err := s.Add(memBase, "", ch.Root(clienttest.RootSpec{SignedBy: []string{}}), opts)
	checkRefusal(t, err, trust.ErrVerification, trust.RuleThreshold, "not signed by a threshold of its own root keys")
	_, _, err = s.Add(memBase, "", ch.Root(clienttest.RootSpec{SignedBy: []string{"attacker"}}), opts)
	checkRefusal(t, err, trust.ErrVerification, trust.RuleThreshold, "key is not authorized")
	_, _, err = s.Add(memBase, "", ch.File("1.root.json"), trust.Options{At: ch.Now.AddDate(2, 0, 0)})
	checkRefusal(t, err, trust.ErrVerification, trust.RuleExpired, "root v1: expired at")
	_, _, err = s.Add(memBase, "", ch.File("key_mgr.json"), opts)
	checkRefusal(t, err, trust.ErrVerification, trust.RuleType, `has type "key_mgr", expected "root"`)
	if chs, _ := s.Channels(); len(chs) != 0 {
		t.Fatalf("refused roots were stored: %v", chs)
	}

	_, _, err = s.Add("https://user:pw@channel.example/ch", "", ch.File("1.root.json"), opts)
	if err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("credentials in the URL: %v", err)
	}

	v2 := ch.Root(clienttest.RootSpec{Version: 2})
	added, _, err := s.Add(memBase+"/", "https://META.example/base/", v2, opts)
	if err != nil {
		t.Fatal(err)
	}
	if added.URL != memBase || added.MetadataURL != "https://meta.example/base" {
		t.Errorf("normalized to %q, %q", added.URL, added.MetadataURL)
	}
	// Same root again: accepted (idempotent).
	if _, _, err := s.Add(memBase, "", v2, opts); err != nil {
		t.Errorf("adding the same root again: %v", err)
	}
	// An older root: rollback.
	_, _, err = s.Add(memBase, "", ch.File("1.root.json"), opts)
	checkRefusal(t, err, trust.ErrVerification, trust.RuleRollback, "version 1 is lower than the already pinned root v2")
	// Another root with the same version.
	_, _, err = s.Add(memBase, "", ch.Root(clienttest.RootSpec{Version: 2, KeyMgrKeys: []string{"attacker"}}), opts)
	checkRefusal(t, err, trust.ErrVerification, trust.RuleVersion, "differs from the root v2 already pinned")
	// A newer root is not pinned over the old one without a chain.
	_, _, err = s.Add(memBase, "", ch.Root(clienttest.RootSpec{Version: 3}), opts)
	checkRefusal(t, err, trust.ErrVerification, trust.RuleVersion, "already pinned at root v2; pinning root v3 would replace it")

	chs, err := s.Channels()
	if err != nil || len(chs) != 1 || chs[0].URL != memBase {
		t.Fatalf("channels = %v, %v", chs, err)
	}
	if err := s.Remove(memBase); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Channel(memBase); !errors.Is(err, client.ErrNotPinned) {
		t.Errorf("after remove: %v", err)
	}
}

// TestStoredRootFiles: only N.root.json names count, the signed version
// must be N, and the newest root must verify against its own keys.
func TestStoredRootFiles(t *testing.T) {
	ch := clienttest.New()
	s := &client.Store{Dir: t.TempDir()}
	chn, _, err := s.Add(memBase, "", ch.File("1.root.json"), trust.Options{At: ch.Now})
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(chn.Dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(name string) { os.Remove(filepath.Join(chn.Dir, name)) }
	// Names that are not exactly N.root.json are ignored, even with a
	// higher number.
	for _, name := range []string{"7.root.json.bak", "08.root.json", "9.root.json~", "x10.root.json", "0.root.json"} {
		write(name, ch.Root(clienttest.RootSpec{Version: 7, RootKeys: []string{"attacker"}}))
	}
	r, err := chn.Root()
	if err != nil || r.Version != 1 {
		t.Fatalf("root = %v, %v; want v1", r, err)
	}
	// Version 5 stored as 3.root.json.
	write("3.root.json", ch.Root(clienttest.RootSpec{Version: 5}))
	_, err = chn.Root()
	checkRefusal(t, err, trust.ErrVerification, trust.RuleVersion, "stored as 3.root.json but its signed version is 5")
	remove("3.root.json")
	// A newest root not signed by its own keys (planted in the store): the
	// store hands it out, the chain refuses to start from it.
	write("2.root.json", ch.Root(clienttest.RootSpec{Version: 2, RootKeys: []string{"root2"}, SignedBy: []string{"root1"}}))
	r, err = chn.Root()
	if err != nil {
		t.Fatal(err)
	}
	_, err = trust.NewChain(r, trust.Options{At: ch.Now})
	checkRefusal(t, err, trust.ErrVerification, trust.RuleThreshold, "its own root keys")
}

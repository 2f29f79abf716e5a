package client_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/client/clienttest"
	"github.com/condatrust/condatrust/trust"
)

// racingFetcher serves a channel whose key_mgr.json changes while two
// updates run: the first request for it gets v2 after a delay, every later
// one v3 at once. Without the store lock the second update would store v3
// and the first then overwrite it with v2 (a lost update, and a rollback).
type racingFetcher struct {
	client.Fetcher
	v2, v3   []byte
	requests atomic.Int32
	delay    time.Duration
}

func (f *racingFetcher) Fetch(ctx context.Context, url string) (io.ReadCloser, error) {
	if !strings.HasSuffix(url, "/key_mgr.json") {
		return f.Fetcher.Fetch(ctx, url)
	}
	if f.requests.Add(1) == 1 {
		time.Sleep(f.delay)
		return io.NopCloser(strings.NewReader(string(f.v2))), nil
	}
	return io.NopCloser(strings.NewReader(string(f.v3))), nil
}

// TestConcurrentUpdatesSerialized runs two updates of one channel at once,
// as two processes would: the second starts from what the first stored,
// and the store ends with the newest key_mgr and every root exactly once.
func TestConcurrentUpdatesSerialized(t *testing.T) {
	ch := clienttest.New()
	ch.SetFile("2.root.json", ch.Root(clienttest.RootSpec{Version: 2}))
	ch.SetFile("3.root.json", ch.Root(clienttest.RootSpec{Version: 3}))
	ch.SetFile("key_mgr.json", ch.KeyMgr(clienttest.KeyMgrSpec{Version: 2}))
	c1, mf := memEnv(t, ch)
	rf := &racingFetcher{Fetcher: mf, v2: ch.File("key_mgr.json"),
		v3: ch.KeyMgr(clienttest.KeyMgrSpec{Version: 3}), delay: 200 * time.Millisecond}
	c1.Fetcher = rf
	// Each update has its own Store value, as each process would.
	c2 := *c1
	c2.Store = &client.Store{Dir: c1.Store.Dir}

	var wg sync.WaitGroup
	states := make([]*client.State, 2)
	errs := make([]error, 2)
	for i, c := range []*client.Client{c1, &c2} {
		wg.Go(func() {
			if i == 1 {
				time.Sleep(50 * time.Millisecond) // while the first waits for key_mgr.json
			}
			states[i], errs[i] = c.Update(context.Background(), memBase)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	first, second := states[0], states[1]
	if first.KeyMgr.Version != 2 || second.KeyMgr.Version != 3 {
		t.Fatalf("key_mgr versions %d then %d, want 2 then 3", first.KeyMgr.Version, second.KeyMgr.Version)
	}
	if second.PreviousKeyMgr != 2 || len(second.RootsAdded) != 0 || len(first.RootsAdded) != 2 {
		t.Errorf("second update started from key_mgr v%d with roots %v added (first added %v): not after the first",
			second.PreviousKeyMgr, second.RootsAdded, first.RootsAdded)
	}
	st, err := c1.Load(memBase)
	if err != nil {
		t.Fatal(err)
	}
	if st.KeyMgr.Version != 3 || st.Root.Version != 3 {
		t.Errorf("stored: root v%d, key_mgr v%d; want v3 and v3 (a lost update)", st.Root.Version, st.KeyMgr.Version)
	}
	vs, _ := st.Channel.RootVersions()
	if len(vs) != 3 {
		t.Errorf("stored roots %v, want 1, 2, 3", vs)
	}
}

// TestLockWaitHonorsContext: an update that cannot get the lock gives up
// when its context ends, and the lock is free again after its holder.
func TestLockWaitHonorsContext(t *testing.T) {
	ch := clienttest.New()
	ch.SetFile("key_mgr.json", ch.KeyMgr(clienttest.KeyMgrSpec{Version: 1}))
	c, mf := memEnv(t, ch)
	release := make(chan struct{})
	entered := make(chan struct{})
	c.Fetcher = blockingFetcher{Fetcher: mf, entered: entered, release: release}
	done := make(chan error, 1)
	go func() { _, err := c.Update(context.Background(), memBase); done <- err }()
	<-entered // the first update holds the lock

	c2 := &client.Client{Fetcher: mf, Store: &client.Store{Dir: c.Store.Dir}, Policy: trust.Options{At: ch.Now}}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c2.Update(ctx, memBase)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for another process") {
		t.Fatalf("update while locked: err = %v, want a wait ended by the deadline", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Update(context.Background(), memBase); err != nil {
		t.Fatalf("update after the lock was released: %v", err)
	}
	if err := c2.Store.Remove(memBase); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(c.Store.Dir)
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("%s left in the store after Remove", filepath.Join(c.Store.Dir, e.Name()))
		}
	}
	if _, err := c2.Store.Channel(memBase); !errors.Is(err, client.ErrNotPinned) {
		t.Errorf("after Remove: err = %v, want ErrNotPinned", err)
	}
}

// blockingFetcher holds the first fetch until release is closed.
type blockingFetcher struct {
	client.Fetcher
	entered chan struct{}
	release chan struct{}
}

func (f blockingFetcher) Fetch(ctx context.Context, url string) (io.ReadCloser, error) {
	select {
	case <-f.entered:
	default:
		close(f.entered)
		<-f.release
	}
	return f.Fetcher.Fetch(ctx, url)
}

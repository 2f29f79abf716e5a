package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/trust"
)

// TrustDirEnv is the environment variable that overrides the default
// trust store location.
const TrustDirEnv = "CONDATRUST_TRUST_DIR"

// DefaultStoreDir returns $CONDATRUST_TRUST_DIR, or "condatrust/trust"
// under the user's configuration directory (os.UserConfigDir).
func DefaultStoreDir() (string, error) {
	if d := os.Getenv(TrustDirEnv); d != "" {
		return filepath.Abs(d)
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the trust store: %w (set %s)", err, TrustDirEnv)
	}
	return filepath.Join(cfg, "condatrust", "trust"), nil
}

// Store is the trust store: one directory per channel, named by the
// SHA-256 of the channel's normalized URL, holding
//
//	channel.json    {"channel": URL, "metadata_url": BASE, "added": TIME}
//	N.root.json     every verified root, canonical, written atomically
//	key_mgr.json    the last verified key_mgr, canonical
//
// Nothing in a channel directory is trusted because it is there: the
// newest root is re-verified against its own keys and the key_mgr against
// that root every time they are used.
//
// Every change to a channel ([Store.Add], [Store.Remove], [Client.Update])
// happens under an exclusive lock on the file <id>.lock next to the
// channel's directory (flock(2) on Unix, released by the kernel when the
// holder dies; elsewhere an exclusively created <id>.lock.held, taken to
// be stale after 15 minutes). An update holds it from reading the stored
// root to writing key_mgr.json, so two processes updating one channel run
// one after the other and the second starts from what the first stored.
// Readers take no lock: every file is replaced atomically.
type Store struct {
	Dir string
}

// Channel is one pinned channel of a [Store].
type Channel struct {
	// URL is the normalized channel URL (see [NormalizeURL]).
	URL string
	// MetadataURL is where N.root.json and key_mgr.json are fetched from:
	// the channel URL unless set apart (conda's signing_metadata_url_base).
	MetadataURL string
	// Added is when the channel was pinned.
	Added time.Time
	// Dir is the channel's directory in the store.
	Dir string
}

type channelFile struct {
	Channel     string `json:"channel"`
	MetadataURL string `json:"metadata_url"`
	Added       string `json:"added,omitempty"`
}

// maxStoreFile bounds what is read from the store, like what is fetched.
const maxStoreFile = 4 << 20

// rootFileName is the only accepted name of a stored root: no leading
// zeros, no prefix or suffix ("7.root.json.bak" is not a root).
var rootFileName = regexp.MustCompile(`^[1-9][0-9]*\.root\.json$`)

// NormalizeURL returns the canonical form of a channel or metadata URL:
// scheme file, http, https or s3 (s3://BUCKET/PREFIX, a channel in a
// bucket, read by the Fetcher registered for "s3") in lower case, host in lower case, no
// trailing slash, no "." or ".." segments. URLs with credentials, a query
// or a fragment are refused: the URL is stored on disk and names the
// channel's directory.
func NormalizeURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("channel URL %q: %w", s, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch u.Scheme {
	case "file", "http", "https", "s3":
	case "":
		return "", fmt.Errorf("channel URL %q: no scheme (use file://, http://, https:// or s3://)", s)
	default:
		return "", fmt.Errorf("channel URL %q: unsupported scheme %q (use file://, http://, https:// or s3://)", s, u.Scheme)
	}
	switch {
	case u.Opaque != "":
		return "", fmt.Errorf("channel URL %q: not a hierarchical URL", s)
	case u.User != nil:
		return "", fmt.Errorf("channel URL %q: credentials in the URL are not stored; remove them", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("channel URL %q: a channel URL has no query or fragment", s)
	}
	u.Host = strings.ToLower(u.Host)
	if u.Scheme == "file" {
		if u.Host == "localhost" {
			u.Host = ""
		}
		if u.Host != "" {
			return "", fmt.Errorf("channel URL %q: file URLs on another host are not supported", s)
		}
	} else if u.Host == "" {
		return "", fmt.Errorf("channel URL %q: no host", s)
	}
	p := u.Path
	if p != "" {
		p = path.Clean("/" + p)
	}
	p = strings.TrimRight(p, "/")
	if u.Scheme == "file" && p == "" {
		return "", fmt.Errorf("channel URL %q: no path", s)
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: p}).String(), nil
}

// joinURL appends path segments to a normalized base URL, escaping each.
func joinURL(base string, segs ...string) string {
	var b strings.Builder
	b.WriteString(base)
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// channelID names a channel's directory in the store.
func channelID(normURL string) string {
	sum := sha256.Sum256([]byte(normURL))
	return hex.EncodeToString(sum[:])
}

// Add pins a channel: root is the initial trusted root, given by the user
// (never fetched from the channel). The rules, in order:
//
//  1. The channel and metadata URLs are normalized; metadataURL "" means
//     the channel URL.
//  2. root must pass [trust.NewChain] (a well-formed root signed by a
//     threshold of its own root keys, roles on distinct keys) and
//     [trust.Chain.EndRoots] (not expired at the reference time of opts,
//     unless opts waives expiry, which the report then says).
//  3. If the channel is already pinned, [trust.CheckRepin] decides: a
//     lower version is a rollback; the same version is accepted only when
//     its signed part is identical (the metadata URL may then change); a
//     higher version is refused: follow the chain with [Client.Update],
//     or remove the channel first.
//  4. channel.json and N.root.json (canonical) are written atomically.
func (s *Store) Add(channelURL, metadataURL string, root []byte, opts trust.Options) (*Channel, *trust.Report, error) {
	norm, err := NormalizeURL(channelURL)
	if err != nil {
		return nil, nil, err
	}
	meta := norm
	if metadataURL != "" {
		if meta, err = NormalizeURL(metadataURL); err != nil {
			return nil, nil, fmt.Errorf("metadata URL: %w", err)
		}
	}
	m, err := trust.ParseMetadata(root, trust.RoleRoot)
	if err != nil {
		return nil, nil, err
	}
	chain, err := trust.NewChain(m, opts)
	rep := &trust.Report{Subject: m.Name(), Expires: m.Expiration}
	for _, r := range chain.Reports() {
		rep.Checks = append(rep.Checks, r.Checks...)
	}
	if err == nil {
		_, err = chain.EndRoots()
	}
	rep.Warnings = chain.Warnings()
	if err != nil {
		return nil, rep, err
	}
	ch := &Channel{URL: norm, MetadataURL: meta, Added: time.Now().UTC().Truncate(time.Second), Dir: filepath.Join(s.Dir, channelID(norm))}
	unlock, err := s.lock(context.Background(), norm)
	if err != nil {
		return nil, rep, err
	}
	defer unlock()
	// Left by a removal that was killed (see Remove).
	os.RemoveAll(filepath.Join(s.Dir, "."+channelID(norm)+".removing"))
	if old, err := s.Channel(norm); err == nil {
		ch.Added = old.Added
		stored, err := old.Root()
		if err != nil && !errors.Is(err, ErrNotPinned) {
			return nil, rep, err
		}
		if stored != nil {
			if err := trust.CheckRepin(stored, m); err != nil {
				return nil, rep, fmt.Errorf("%s: %w", norm, err)
			}
		}
	} else if !errors.Is(err, ErrNotPinned) {
		return nil, rep, err
	}
	if err := os.MkdirAll(ch.Dir, 0o755); err != nil {
		return nil, rep, err
	}
	if err := ch.writeConfig(); err != nil {
		return nil, rep, err
	}
	if err := ch.writeRoot(m); err != nil {
		return nil, rep, err
	}
	return ch, rep, nil
}

// Channel returns the pinned channel for a URL, or an error matching
// [ErrNotPinned].
func (s *Store) Channel(channelURL string) (*Channel, error) {
	norm, err := NormalizeURL(channelURL)
	if err != nil {
		return nil, err
	}
	ch, err := s.readChannel(channelID(norm))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (no trusted root in %s)", norm, ErrNotPinned, s.Dir)
	}
	if err != nil {
		return nil, err
	}
	if ch.URL != norm {
		return nil, fmt.Errorf("trust store %s: channel.json names %s, not %s", ch.Dir, ch.URL, norm)
	}
	return ch, nil
}

func (s *Store) readChannel(id string) (*Channel, error) {
	dir := filepath.Join(s.Dir, id)
	data, err := readCapped(filepath.Join(dir, "channel.json"), maxStoreFile)
	if err != nil {
		return nil, err
	}
	var cf channelFile
	if err := json.Unmarshal(data, &cf); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "channel.json"), err)
	}
	norm, err := NormalizeURL(cf.Channel)
	if err != nil || norm != cf.Channel || channelID(norm) != id {
		return nil, fmt.Errorf("%s: channel %q does not belong in this directory", filepath.Join(dir, "channel.json"), cf.Channel)
	}
	meta, err := NormalizeURL(cf.MetadataURL)
	if err != nil {
		return nil, fmt.Errorf("%s: metadata URL: %w", filepath.Join(dir, "channel.json"), err)
	}
	ch := &Channel{URL: norm, MetadataURL: meta, Dir: dir}
	if cf.Added != "" {
		ch.Added, _ = time.Parse(time.RFC3339, cf.Added)
	}
	return ch, nil
}

// Channels lists the pinned channels, sorted by URL. Directories that are
// not channels of this store are skipped.
func (s *Store) Channels() ([]*Channel, error) {
	ents, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Channel
	for _, e := range ents {
		if !e.IsDir() || len(e.Name()) != 64 {
			continue
		}
		ch, err := s.readChannel(e.Name())
		if err != nil {
			continue
		}
		out = append(out, ch)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URL < out[j].URL })
	return out, nil
}

// Remove forgets a channel: its directory and everything in it. The
// directory is first renamed out of the way (.<id>.removing), so that an
// interrupted removal leaves the channel either pinned as it was or gone.
func (s *Store) Remove(channelURL string) error {
	ch, unlock, err := s.lockedChannel(context.Background(), channelURL)
	if err != nil {
		return err
	}
	defer unlock()
	gone := filepath.Join(s.Dir, "."+filepath.Base(ch.Dir)+".removing")
	if err := os.RemoveAll(gone); err != nil { // left by a removal that was killed
		return err
	}
	if err := os.Rename(ch.Dir, gone); err != nil {
		return err
	}
	return os.RemoveAll(gone)
}

// lockPollMin and lockPollMax bound the wait between two attempts to take
// a channel's lock.
const (
	lockPollMin = 5 * time.Millisecond
	lockPollMax = 200 * time.Millisecond
)

// lock takes the exclusive lock of the channel with normalized URL norm,
// waiting for another holder as long as ctx allows. It creates the store
// directory if needed.
func (s *Store) lock(ctx context.Context, norm string) (unlock func(), err error) {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(s.Dir, channelID(norm)+".lock")
	wait := lockPollMin
	for {
		unlock, ok, err := tryLock(path)
		if err != nil {
			return nil, fmt.Errorf("trust store %s: locking %s: %w", s.Dir, norm, err)
		}
		if ok {
			return unlock, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("trust store %s: waiting for another process to finish with %s: %w", s.Dir, norm, context.Cause(ctx))
		case <-t.C:
		}
		wait = min(2*wait, lockPollMax)
	}
}

// lockedChannel returns the pinned channel for a URL with its lock held;
// call unlock when done changing it.
func (s *Store) lockedChannel(ctx context.Context, channelURL string) (ch *Channel, unlock func(), err error) {
	norm, err := NormalizeURL(channelURL)
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(s.Dir); err != nil {
		// No store, no channel: say so without creating the directory.
		if _, cerr := s.Channel(norm); cerr != nil {
			return nil, nil, cerr
		}
	}
	unlock, err = s.lock(ctx, norm)
	if err != nil {
		return nil, nil, err
	}
	ch, err = s.Channel(norm)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return ch, unlock, nil
}

func (ch *Channel) writeConfig() error {
	cf := channelFile{Channel: ch.URL, MetadataURL: ch.MetadataURL}
	if !ch.Added.IsZero() {
		cf.Added = ch.Added.UTC().Format(time.RFC3339)
	}
	data, err := json.MarshalIndent(cf, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(ch.Dir, "channel.json"), append(data, '\n'), 0o644)
}

// RootVersions returns the versions of the stored roots, ascending. Only
// files named exactly N.root.json count.
func (ch *Channel) RootVersions() ([]int64, error) {
	ents, err := os.ReadDir(ch.Dir)
	if err != nil {
		return nil, err
	}
	var vs []int64
	for _, e := range ents {
		if !rootFileName.MatchString(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSuffix(e.Name(), ".root.json"), 10, 64)
		if err != nil {
			continue // more digits than any version can have
		}
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	return vs, nil
}

// Root returns the newest stored root: the file N.root.json with the
// highest N, whose signed version must be N and which must be signed by a
// threshold of its own root keys. Its expiry is not checked here (it may
// be the start of a chain walk). No root gives an error matching
// [ErrNotPinned].
func (ch *Channel) Root() (*trust.Metadata, error) {
	vs, err := ch.RootVersions()
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("%s: %w (no N.root.json in %s)", ch.URL, ErrNotPinned, ch.Dir)
	}
	n := vs[len(vs)-1]
	name := filepath.Join(ch.Dir, strconv.FormatInt(n, 10)+".root.json")
	data, err := readCapped(name, maxStoreFile)
	if err != nil {
		return nil, err
	}
	m, err := trust.ParseMetadata(data, trust.RoleRoot)
	if err != nil {
		return nil, fmt.Errorf("trust store %s: %w", name, err)
	}
	if err := trust.CheckRootFile(n, m); err != nil {
		return nil, fmt.Errorf("trust store %s: %w", name, err)
	}
	return m, nil
}

// StoredKeyMgr returns the stored key_mgr.json, parsed but not verified,
// or nil when there is none. Verify it against the current root before
// use ([Client.Load] does).
func (ch *Channel) StoredKeyMgr() (*trust.Metadata, error) {
	name := filepath.Join(ch.Dir, "key_mgr.json")
	data, err := readCapped(name, maxStoreFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := trust.ParseMetadata(data, trust.RoleKeyMgr)
	if err != nil {
		return nil, fmt.Errorf("trust store %s: %w", name, err)
	}
	return m, nil
}

func (ch *Channel) writeRoot(m *trust.Metadata) error {
	return atomicfile.WriteFile(filepath.Join(ch.Dir, strconv.FormatInt(m.Version, 10)+".root.json"), m.Envelope.Marshal(), 0o644)
}

func (ch *Channel) writeKeyMgr(m *trust.Metadata) error {
	return atomicfile.WriteFile(filepath.Join(ch.Dir, "key_mgr.json"), m.Envelope.Marshal(), 0o644)
}

func readCapped(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, limit)
	}
	return data, nil
}

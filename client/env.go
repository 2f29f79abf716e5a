package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/condatrust/condatrust/canonjson"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/trust"
)

// EnvOptions set where [Client.VerifyEnv] looks for signed records.
type EnvOptions struct {
	// Channels are searched, in order, by file name, for packages whose
	// own channel (from their conda-meta "url") is not pinned or has no
	// record for them. Each must be pinned.
	Channels []string
	// Repodata holds local repodata by normalized channel URL and subdir,
	// used instead of fetching it.
	Repodata map[string]map[string]*Repodata
	// Offline fetches nothing: the trust state is the stored one
	// ([Client.Load]) and repodata must be in Repodata.
	Offline bool
	// Files also audits the files each trusted package installed against
	// its archive: see [Client.AuditEnv].
	Files bool
	// PkgsDirs are the package caches searched for archives, in order;
	// nil means <prefix>/pkgs and <prefix>/../../pkgs (a base
	// installation's cache, for the environment itself and for one of its
	// envs/).
	PkgsDirs []string
	// HostOS is the GOOS of the machine conda installed the environment
	// on, which decides some prefix replacements; "" means runtime.GOOS.
	HostOS string
}

// EnvPackage is the verdict on one installed package.
type EnvPackage struct {
	// MetaFile is the conda-meta/*.json file describing the package.
	MetaFile string `json:"meta_file"`
	Name     string `json:"name,omitempty"`
	Version  string `json:"version,omitempty"`
	Build    string `json:"build,omitempty"`
	Filename string `json:"fn,omitempty"`
	Subdir   string `json:"subdir,omitempty"`
	// URL is where conda says it downloaded the package from.
	URL string `json:"url,omitempty"`
	// Channel is the channel whose signed record decided the verdict,
	// "" when none did.
	Channel string     `json:"channel,omitempty"`
	Status  Status     `json:"status"`
	Rule    trust.Rule `json:"rule,omitempty"`
	Reason  string     `json:"reason,omitempty"`
	// Files is the audit of the package's installed files, nil unless
	// [EnvOptions.Files] is set.
	Files *EnvFiles `json:"files,omitempty"`

	expect repodata.Expect // the verified record's size and digests, when trusted
}

// condaMeta is the part of a conda-meta/*.json record we read.
type condaMeta struct {
	Name    string          `json:"name"`
	Version string          `json:"version"`
	Build   string          `json:"build"`
	Fn      string          `json:"fn"`
	URL     string          `json:"url"`
	Channel string          `json:"channel"`
	Subdir  string          `json:"subdir"`
	SHA256  string          `json:"sha256"`
	MD5     string          `json:"md5"`
	Size    json.RawMessage `json:"size"`
}

// VerifyEnv checks every package installed in the conda environment at
// prefix (each conda-meta/*.json) against a signed record. The rules, for
// each package, in order:
//
//  1. The file name comes from "fn" (or the end of "url"), the subdir from
//     "subdir" (or the folder in "url"), and the package's own channel
//     from "url" minus /<subdir>/<fn>.
//  2. The channels tried are its own channel when pinned, then
//     opts.Channels. A channel's trust state is built once per run
//     ([Client.Update], or [Client.Load] when opts.Offline); if it is
//     refused, so is every package that channel vouches for.
//  3. In the first channel whose <subdir> repodata has a record for the
//     file name, the record is verified with
//     [repodata.Verifier.VerifyPackageRecord] (signed, bound to the file
//     name and subdir, checkable).
//  4. The conda-meta record must agree with it
//     ([repodata.Package.CheckInstalled]: name, version and build, rule
//     "record-mismatch"; sha256, md5 and size where both have them, at
//     least one hash compared, rule "artifact-hash").
//  5. No channel tried has a record, or none could be tried: unknown.
//
// The result is sorted by file name. The error is only for a prefix that
// cannot be read.
func (c *Client) VerifyEnv(ctx context.Context, prefix string, opts EnvOptions) ([]EnvPackage, []string, error) {
	opts.Files = false
	rep, err := c.AuditEnv(ctx, prefix, opts)
	if err != nil {
		return nil, nil, err
	}
	return rep.Packages, rep.Warnings, nil
}

func (c *Client) verifyEnv(ctx context.Context, prefix string, opts EnvOptions) (*envVerifier, []EnvPackage, error) {
	dir := filepath.Join(prefix, "conda-meta")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a conda environment: %w", prefix, err)
	}
	ev := &envVerifier{c: c, ctx: ctx, opts: opts, states: map[string]stateResult{}, repodata: map[string]repodataResult{}}
	for _, ch := range opts.Channels {
		norm, err := NormalizeURL(ch)
		if err != nil {
			return nil, nil, err
		}
		ev.extra = append(ev.extra, norm)
	}
	var out []EnvPackage
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		out = append(out, ev.verify(filepath.Join(dir, e.Name())))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Filename != out[j].Filename {
			return out[i].Filename < out[j].Filename
		}
		return out[i].MetaFile < out[j].MetaFile
	})
	return ev, out, nil
}

type stateResult struct {
	st  *State
	err error
}

type repodataResult struct {
	rd  *Repodata
	err error
}

type envVerifier struct {
	c        *Client
	ctx      context.Context
	opts     EnvOptions
	extra    []string
	states   map[string]stateResult
	repodata map[string]repodataResult
	warnings []string
}

func (ev *envVerifier) state(ch string) (*State, error) {
	if r, ok := ev.states[ch]; ok {
		return r.st, r.err
	}
	var st *State
	var err error
	if ev.opts.Offline {
		st, err = ev.c.Load(ch)
	} else {
		st, err = ev.c.Update(ev.ctx, ch)
	}
	if st != nil {
		for _, w := range st.Warnings {
			if !contains(ev.warnings, w) {
				ev.warnings = append(ev.warnings, w)
			}
		}
	}
	ev.states[ch] = stateResult{st, err}
	return st, err
}

func (ev *envVerifier) repo(ch, subdir string) (*Repodata, error) {
	if m, ok := ev.opts.Repodata[ch]; ok {
		if rd, ok := m[subdir]; ok {
			return rd, nil
		}
	}
	key := ch + "\x00" + subdir
	if r, ok := ev.repodata[key]; ok {
		return r.rd, r.err
	}
	if ev.opts.Offline {
		return nil, fmt.Errorf("offline: no local repodata for %s/%s", ch, subdir)
	}
	rd, err := ev.c.Repodata(ev.ctx, ch, subdir)
	ev.repodata[key] = repodataResult{rd, err}
	return rd, err
}

func (ev *envVerifier) verify(metaFile string) EnvPackage {
	p := EnvPackage{MetaFile: metaFile, Status: StatusUnknown}
	data, err := readCapped(metaFile, 64<<20)
	if err != nil {
		p.Reason = err.Error()
		return p
	}
	var m condaMeta
	if err := json.Unmarshal(data, &m); err != nil {
		p.Reason = fmt.Sprintf("not a conda-meta record: %v", err)
		return p
	}
	p.Name, p.Version, p.Build, p.URL, p.Subdir, p.Filename = m.Name, m.Version, m.Build, m.URL, m.Subdir, m.Fn
	own := ""
	if m.URL != "" {
		if u, err := url.Parse(m.URL); err == nil {
			segs := strings.Split(strings.TrimRight(u.Path, "/"), "/")
			if n := len(segs); n >= 3 {
				if p.Filename == "" {
					p.Filename = segs[n-1]
				}
				if p.Subdir == "" {
					p.Subdir = segs[n-2]
				}
				if segs[n-1] == p.Filename && segs[n-2] == p.Subdir {
					u.Path = strings.Join(segs[:n-2], "/")
					u.RawPath = ""
					if norm, err := NormalizeURL(u.String()); err == nil {
						own = norm
					}
				}
			}
		}
	}
	if p.Filename == "" || CheckFilename(p.Filename) != nil {
		p.Reason = fmt.Sprintf("no usable package file name (fn %q, url %q)", m.Fn, m.URL)
		return p
	}
	if p.Subdir == "" || CheckSubdir(p.Subdir) != nil {
		p.Reason = fmt.Sprintf("no usable subdir (subdir %q, url %q)", m.Subdir, m.URL)
		return p
	}

	var tried []string
	if own != "" {
		if _, err := ev.c.Store.Channel(own); err == nil {
			tried = append(tried, own)
		} else if !contains(ev.extra, own) {
			p.Reason = fmt.Sprintf("its channel %s is not pinned", own)
		}
	}
	for _, ch := range ev.extra {
		if !contains(tried, ch) {
			tried = append(tried, ch)
		}
	}
	if len(tried) == 0 {
		if p.Reason == "" {
			p.Reason = "no channel to look in: its conda-meta record has no channel URL and no channel was given"
		}
		return p
	}
	var notes []string
	for _, ch := range tried {
		rd, err := ev.repo(ch, p.Subdir)
		if err != nil {
			notes = append(notes, err.Error())
			continue
		}
		st, err := ev.state(ch)
		if err != nil {
			p.Channel = ch
			p.setErr(fmt.Errorf("channel %s: %w", ch, err))
			return p
		}
		pkg, err := st.VerifyPackageRecord(rd, p.Subdir, p.Filename)
		if RuleOf(err) == trust.RuleNotListed {
			notes = append(notes, fmt.Sprintf("%s has no record for %s", rd.Source, p.Filename))
			continue
		}
		p.Channel = ch
		if err == nil {
			err = pkg.CheckInstalled(m.installed())
		}
		if err == nil {
			p.expect = pkg.Expect
		}
		if _, legacy := pkgValue(pkg).Get("sig"); RuleOf(err) == trust.RuleUnsigned && legacy {
			err = fmt.Errorf("%w (a legacy conda sign record: only the package archive and its .sig can be checked)", err)
		}
		p.setErr(err)
		return p
	}
	if p.Reason != "" {
		notes = append([]string{p.Reason}, notes...)
	}
	p.Reason = strings.Join(notes, "; ")
	return p
}

func (p *EnvPackage) setErr(err error) {
	p.Status = StatusOf(err)
	p.Rule = RuleOf(err)
	if err != nil {
		p.Reason = err.Error()
	}
}

func pkgValue(p *repodata.Package) canonjson.Value {
	if p == nil {
		return canonjson.Value{}
	}
	return p.Value
}

// installed returns what the conda-meta record says, for
// [repodata.Package.CheckInstalled].
func (m *condaMeta) installed() repodata.Installed {
	in := repodata.Installed{Name: m.Name, Version: m.Version, Build: m.Build, SHA256: m.SHA256, MD5: m.MD5, Size: -1}
	var n int64
	if len(m.Size) > 0 && json.Unmarshal(m.Size, &n) == nil && n >= 0 {
		in.Size = n
	}
	return in
}

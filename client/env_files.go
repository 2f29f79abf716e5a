package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/condatrust/condatrust/envaudit"
	"github.com/condatrust/condatrust/trust"
)

// EnvFiles is the audit of the files one package installed
// ([envaudit.Env.Audit]).
type EnvFiles struct {
	// Checked is false when the files could not be checked; Reason says
	// why.
	Checked bool `json:"checked"`
	// Archive is where the verified archive came from: a file in a pkgs
	// cache or the URL it was downloaded from.
	Archive string `json:"archive,omitempty"`
	// Paths is the number of paths of the archive compared.
	Paths      int `json:"paths"`
	Modified   int `json:"modified"`
	Missing    int `json:"missing"`
	Unexpected int `json:"unexpected"`
	Unchecked  int `json:"unchecked"`
	// Findings are the paths not as the archive installs them.
	Findings []envaudit.Finding `json:"findings"`
	Reason   string             `json:"reason,omitempty"`
}

// EnvReport is the result of [Client.AuditEnv].
type EnvReport struct {
	Packages []EnvPackage
	// Unexpected are the files of the prefix that no conda-meta record
	// claims ([envaudit.Env.Unexpected]); only with [EnvOptions.Files].
	Unexpected []envaudit.Finding
	Warnings   []string
}

// AuditEnv is [Client.VerifyEnv] and, with opts.Files, an audit of the
// installed files. For each package found trusted, in order:
//
//  1. Its archive (the record's "fn") is looked for in opts.PkgsDirs. A
//     copy is used only if its bytes match the verified record
//     ([repodata.Expect] through its [repodata.ByteCheck]); they are
//     copied, as they are checked, into a private temporary folder, and
//     that copy is what is read. A copy that does not match is reported
//     in the warnings and not used.
//  2. Otherwise the archive is downloaded from the channel that vouched
//     for it, through the same check as [Client.FetchPackage] (steps 5-7),
//     into that folder; with opts.Offline, nothing is downloaded and the
//     package's files are not checked.
//  3. The installed files are compared with the archive
//     ([envaudit.Env.Audit], with the prefix's absolute path as the
//     prefix conda replaced placeholders with).
//
// Packages that are not trusted are not checked: nothing vouches for an
// archive to compare with. Then every file of the prefix that no
// conda-meta record claims is listed ([envaudit.Env.Unexpected]). The
// error is only for a prefix that cannot be read.
func (c *Client) AuditEnv(ctx context.Context, prefix string, opts EnvOptions) (*EnvReport, error) {
	ev, pkgs, err := c.verifyEnv(ctx, prefix, opts)
	if err != nil {
		return nil, err
	}
	rep := &EnvReport{Packages: pkgs}
	if opts.Files {
		if err := ev.auditFiles(prefix, rep); err != nil {
			return nil, err
		}
	}
	rep.Warnings = ev.warnings
	return rep, nil
}

func (ev *envVerifier) auditFiles(prefix string, rep *EnvReport) error {
	abs, err := filepath.Abs(prefix)
	if err != nil {
		return err
	}
	env := &envaudit.Env{Files: os.DirFS(prefix), Prefix: abs, HostOS: ev.opts.HostOS}
	dirs := ev.opts.PkgsDirs
	if dirs == nil {
		dirs = []string{filepath.Join(abs, "pkgs"), filepath.Join(abs, "..", "..", "pkgs")}
	}
	tmp, err := os.MkdirTemp("", "conda-trust-verify-env-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var metas []*envaudit.Meta
	for i := range rep.Packages {
		p := &rep.Packages[i]
		data, err := readCapped(p.MetaFile, 64<<20)
		if err != nil {
			p.Files = notChecked(err.Error())
			continue
		}
		meta, err := envaudit.ParseMeta(data, p.MetaFile)
		if err != nil {
			p.Files = notChecked(err.Error())
			continue
		}
		metas = append(metas, meta)
		if p.Status != StatusTrusted {
			p.Files = notChecked("not checked: no signed record vouches for an archive to compare with")
			continue
		}
		p.Files = ev.auditPackage(env, p, meta, dirs, tmp)
	}
	un, err := env.Unexpected(metas)
	if err != nil {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	rep.Unexpected = un
	return nil
}

// auditPackage obtains the verified archive of a trusted package and
// audits its files.
func (ev *envVerifier) auditPackage(env *envaudit.Env, p *EnvPackage, meta *envaudit.Meta, dirs []string, tmp string) *EnvFiles {
	f := &EnvFiles{Findings: []envaudit.Finding{}}
	path, from, err := ev.archive(p, dirs, tmp)
	if err != nil {
		f.Reason = err.Error()
		return f
	}
	defer os.Remove(path)
	f.Archive = from
	res, err := env.Audit(envaudit.ArchiveFile(path), meta)
	if err != nil {
		f.Reason = fmt.Sprintf("%s: cannot read the verified archive: %v", from, err)
		return f
	}
	f.Checked, f.Paths, f.Findings = true, res.Checked, res.Findings
	f.Modified, f.Missing = res.Count(envaudit.Modified), res.Count(envaudit.Missing)
	f.Unexpected, f.Unchecked = res.Count(envaudit.Unexpected), res.Count(envaudit.Unchecked)
	return f
}

// archive returns a private copy of p's archive whose bytes match its
// verified record, and where it came from.
func (ev *envVerifier) archive(p *EnvPackage, dirs []string, tmp string) (string, string, error) {
	fn := p.Filename
	dst := filepath.Join(tmp, fn)
	for _, dir := range dirs {
		src := filepath.Join(dir, fn)
		err := copyChecked(src, dst, p)
		if err == nil {
			return dst, src, nil
		}
		os.Remove(dst)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case errors.Is(err, trust.ErrVerification):
			ev.warn(fmt.Sprintf("WARNING: %s does not match its signed record (%v): not used", src, err))
		default:
			ev.warn(fmt.Sprintf("WARNING: %s: %v: not used", src, err))
		}
	}
	if ev.opts.Offline {
		return "", "", fmt.Errorf("not checked: offline, and no copy of %s that matches its signed record in %s", fn, strings.Join(dirs, ", "))
	}
	rd, err := ev.repo(p.Channel, p.Subdir)
	if err != nil {
		return "", "", fmt.Errorf("not checked: %w", err)
	}
	u, err := artifactURL(p.Channel, p.Subdir, fn, rd)
	if err != nil {
		return "", "", fmt.Errorf("not checked: %w", err)
	}
	check := p.expect.NewCheck()
	path, err := ev.c.download(ev.ctx, u, tmp, fn, p.expect.Size, check, check.Verify)
	if err != nil {
		return "", "", fmt.Errorf("not checked: downloading %s: %w", u, err)
	}
	return path, u, nil
}

// copyChecked copies src to dst through the record's byte check, and
// fails unless the bytes are those of the record.
func copyChecked(src, dst string, p *EnvPackage) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if st, err := in.Stat(); err != nil {
		return err
	} else if !st.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	check := p.expect.NewCheck()
	_, err = io.Copy(io.MultiWriter(check, out), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return check.Verify()
}

func notChecked(reason string) *EnvFiles {
	return &EnvFiles{Findings: []envaudit.Finding{}, Reason: reason}
}

func (ev *envVerifier) warn(w string) {
	if !contains(ev.warnings, w) {
		ev.warnings = append(ev.warnings, w)
	}
}

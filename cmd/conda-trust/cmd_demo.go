package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/internal/atomicfile"
	"github.com/condatrust/condatrust/signer"
	"github.com/condatrust/condatrust/trust"
)

func init() {
	register(func() *cobra.Command {
		return &cobra.Command{
			Use:   "demo [DIR]",
			Short: "Walk through the whole trust flow on a throw-away channel",
			Long: `Run the whole content-trust flow in DIR (default: a new temporary folder) and
explain each step: create root keys (two, threshold 2), key_mgr and pkg_mgr
keys; write and sign 1.root.json and key_mgr.json; verify them; then tamper
with a file and show it refused. Nothing outside DIR is touched.`,
			Example: `  conda-trust demo
  conda-trust demo ./demo-channel`,
			Args: maxArgs(1, "one DIR"),
			RunE: func(cmd *cobra.Command, args []string) error {
				dir := ""
				if len(args) == 1 {
					dir = args[0]
				}
				return runDemo(cmd.OutOrStdout(), dir)
			},
		}
	})
}

// demo holds the state of one demo run.
type demo struct {
	w       io.Writer
	dir     string
	keys    string
	channel string
	now     time.Time
	step    int
	signers map[string]*signer.Key
}

func (d *demo) say(format string, args ...any) {
	d.step++
	fmt.Fprintf(d.w, "\n%d. %s\n", d.step, fmt.Sprintf(format, args...))
}

func (d *demo) detail(format string, args ...any) {
	fmt.Fprintf(d.w, "   %s\n", fmt.Sprintf(format, args...))
}

func runDemo(w io.Writer, dir string) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "conda-trust-demo-")
		if err != nil {
			return err
		}
		dir = tmp
	} else if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return withHint(fmt.Errorf("%s is not empty", dir), "give a new or empty folder; the demo never overwrites files")
	}
	d := &demo{w: w, dir: dir, keys: filepath.Join(dir, "keys"), channel: filepath.Join(dir, "channel"),
		now: time.Now().UTC().Truncate(time.Second), signers: map[string]*signer.Key{}}
	if err := os.MkdirAll(d.channel, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(w, "conda-trust demo: a signed conda channel in %s\n", dir)
	steps := []func() error{d.makeKeys, d.makeRoot, d.makeKeyMgr, d.verifyChain, d.tamperMetadata}
	steps = append(steps, demoExtraSteps(d)...)
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	d.finish()
	return nil
}

// demoExtraSteps returns steps added by other parts of the product (the
// package and channel steps); none when those are not built in.
var demoExtraSteps = func(*demo) []func() error { return nil }

func (d *demo) makeKeys() error {
	d.say("Create keys (in real life: root and key_mgr keys on offline machines)")
	for _, name := range []string{"root1", "root2", "key_mgr", "pkg_mgr"} {
		pub, err := signer.GenerateKeyFiles(d.keys, name)
		if err != nil {
			return err
		}
		k, err := signer.ReadKeyFile(filepath.Join(d.keys, name+".pri"))
		if err != nil {
			return err
		}
		d.signers[name] = k
		d.detail("%-8s %s  (%s.pri, mode 0600)", name, pub.Short(), filepath.Join(d.keys, name))
	}
	return nil
}

func (d *demo) write(name string, env *trust.Envelope) error {
	return atomicfile.WriteFile(filepath.Join(d.channel, name), env.Marshal(), 0o644)
}

func (d *demo) makeRoot() error {
	d.say("Write root metadata v1: root keys root1+root2 (threshold 2), key_mgr key (threshold 1)")
	env, err := trust.Build(trust.Params{Type: trust.RoleRoot, Version: 1, Timestamp: d.now, Expiration: d.now.AddDate(1, 0, 0),
		Delegations: map[string]trust.Delegation{
			trust.RoleRoot:   {Keys: []trust.PublicKey{d.signers["root1"].Public(), d.signers["root2"].Public()}, Threshold: 2},
			trust.RoleKeyMgr: {Keys: []trust.PublicKey{d.signers["key_mgr"].Public()}, Threshold: 1},
		}})
	if err != nil {
		return err
	}
	for _, k := range []string{"root1", "root2"} {
		if err := signer.SignEnvelope(env, d.signers[k], trust.FormOpenPGP, signer.OpenPGPOptions{Created: d.now}); err != nil {
			return err
		}
		d.detail("signed by %s (OpenPGP-style, as conda requires for roots)", k)
	}
	d.detail("wrote %s", filepath.Join(d.channel, "1.root.json"))
	return d.write("1.root.json", env)
}

func (d *demo) makeKeyMgr() error {
	d.say("Write key_mgr.json: it delegates package signing to the pkg_mgr key")
	env, err := trust.Build(trust.Params{Type: trust.RoleKeyMgr, Version: 1, Timestamp: d.now, Expiration: d.now.AddDate(0, 6, 0),
		Delegations: map[string]trust.Delegation{
			trust.RolePkgMgr: {Keys: []trust.PublicKey{d.signers["pkg_mgr"].Public()}, Threshold: 1},
		}})
	if err != nil {
		return err
	}
	if err := signer.SignEnvelope(env, d.signers["key_mgr"], trust.FormRaw, signer.OpenPGPOptions{}); err != nil {
		return err
	}
	d.detail("signed by key_mgr (raw Ed25519); wrote %s", filepath.Join(d.channel, "key_mgr.json"))
	return d.write("key_mgr.json", env)
}

func (d *demo) load(name, role string) (*trust.Metadata, error) {
	data, err := os.ReadFile(filepath.Join(d.channel, name))
	if err != nil {
		return nil, err
	}
	return trust.ParseMetadata(data, role)
}

func (d *demo) verifyChain() error {
	d.say("Verify: the root against its own keys, key_mgr against the root")
	root, err := d.load("1.root.json", trust.RoleRoot)
	if err != nil {
		return err
	}
	chain, err := trust.NewChain(root, trust.Options{At: d.now})
	if err != nil {
		return err
	}
	if _, err := chain.EndRoots(); err != nil {
		return err
	}
	rep := chain.Reports()[0]
	d.detail("1.root.json: trusted (%d of %d root signatures)", len(rep.Checks[0].Result.Valid), rep.Checks[0].Result.Threshold)
	km, err := d.load("key_mgr.json", trust.RoleKeyMgr)
	if err != nil {
		return err
	}
	if _, err := chain.SetKeyMgr(km, nil); err != nil {
		return err
	}
	d.detail("key_mgr.json: trusted (signed by the root's key_mgr key)")
	return nil
}

func (d *demo) tamperMetadata() error {
	d.say("Tamper: an attacker swaps the pkg_mgr key in key_mgr.json for their own")
	data, err := os.ReadFile(filepath.Join(d.channel, "key_mgr.json"))
	if err != nil {
		return err
	}
	attacker := strings.Repeat("a", 64)
	bad := strings.Replace(string(data), d.signers["pkg_mgr"].Public().String(), attacker, 1)
	path := filepath.Join(d.dir, "key_mgr.tampered.json")
	if err := atomicfile.WriteFile(path, []byte(bad), 0o644); err != nil {
		return err
	}
	root, err := d.load("1.root.json", trust.RoleRoot)
	if err != nil {
		return err
	}
	km, err := trust.ParseMetadata([]byte(bad), trust.RoleKeyMgr)
	if err != nil {
		return err
	}
	chain, err := trust.NewChain(root, trust.Options{At: d.now})
	if err != nil {
		return err
	}
	_, err = chain.SetKeyMgr(km, nil)
	if !errors.Is(err, trust.ErrVerification) {
		return fmt.Errorf("the tampered key_mgr was not refused (%v): this is a bug, please report it", err)
	}
	d.detail("REFUSED %s: %v", path, err)
	return nil
}

func (d *demo) finish() {
	fmt.Fprintf(d.w, "\nDone. Everything is in %s:\n", d.dir)
	fmt.Fprintf(d.w, "  keys/      the key pairs (private keys mode 0600)\n")
	fmt.Fprintf(d.w, "  channel/   1.root.json and key_mgr.json, served next to the channel's subdirs\n")
	fmt.Fprintf(d.w, "\nTry it yourself:\n")
	fmt.Fprintf(d.w, "  conda-trust inspect %s\n", filepath.Join(d.channel, "1.root.json"))
	fmt.Fprintf(d.w, "  conda-trust verify-metadata %s %s\n", filepath.Join(d.channel, "1.root.json"), filepath.Join(d.channel, "key_mgr.json"))
}

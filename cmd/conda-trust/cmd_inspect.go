package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/trust"
)

type inspectOpts struct {
	json     bool
	at       string
	root     string
	previous string
}

func init() {
	register(func() *cobra.Command {
		o := &inspectOpts{}
		cmd := &cobra.Command{
			Use:   "inspect FILE [--previous ROOT | --root ROOT] [--json]",
			Short: "Show a metadata file: role, version, times, delegations, signatures",
			Long: `Show what a root, key_mgr or pkg_mgr file says: its role and version, when it
was issued and when it expires (and in how many days), whom it delegates to
with which threshold, and each signature: its key, its form, and whether it
is cryptographically valid.

Then each threshold FILE is checked against, with every authorized key as
signed and valid, signed but invalid (the signature does not verify, is
malformed or of a form that does not count for the role), or missing, and
whether the threshold is met:
  root v1       its own root keys;
  root vN       its own root keys and the root keys of the previous root
                vN-1, which is --previous FILE or N-1.root.json next to
                FILE (a new root must be signed by a threshold of both);
  key_mgr       the key_mgr keys of the root, which is --root FILE or the
                newest N.root.json next to FILE;
  pkg_mgr       the pkg_mgr keys of key_mgr.json next to FILE.
A threshold whose delegating document is not found is not shown, and a
line says so. These are the same documents sign-metadata checks a key
against. inspect does not decide trust (expiry, versions, the chain from a
pinned root): use verify-metadata for that.`,
			Example: `  conda-trust inspect 1.root.json
  conda-trust inspect 2.root.json --previous 1.root.json
  conda-trust inspect key_mgr.json --root 2.root.json --json`,
			Args: exactArgs(1, "the metadata FILE"),
			RunE: func(cmd *cobra.Command, args []string) error { return runInspect(cmd, o, args[0]) },
		}
		cmd.Flags().BoolVar(&o.json, "json", false, "print as JSON")
		cmd.Flags().StringVar(&o.at, "at", "", "reference time for days to expiry, RFC 3339 (default now)")
		cmd.Flags().StringVar(&o.previous, "previous", "", "for root vN: the previous root vN-1, whose root threshold is also shown (default: N-1.root.json next to FILE)")
		cmd.Flags().StringVar(&o.root, "root", "", "for key_mgr: the root that delegates key_mgr (default: the newest N.root.json next to FILE)")
		return cmd
	})
}

type inspectSig struct {
	Key     string `json:"key"`
	Form    string `json:"form"`
	Valid   bool   `json:"valid"`
	Counted bool   `json:"counts_for_role"`
	SeeAlso string `json:"see_also,omitempty"`
	Problem string `json:"problem,omitempty"`
}

type inspectDel struct {
	Keys      []string `json:"pubkeys"`
	Threshold int      `json:"threshold"`
}

type inspectJSON struct {
	File          string                `json:"file"`
	Type          string                `json:"type"`
	Version       int64                 `json:"version"`
	SpecVersion   string                `json:"metadata_spec_version"`
	Timestamp     string                `json:"timestamp"`
	Expiration    string                `json:"expiration"`
	DaysToExpiry  int                   `json:"days_to_expiry"`
	Expired       bool                  `json:"expired"`
	Delegations   map[string]inspectDel `json:"delegations"`
	Signatures    []inspectSig          `json:"signatures"`
	RootThreshold *bool                 `json:"root_threshold_met,omitempty"`
	Thresholds    []inspectThreshold    `json:"thresholds"`
	Unchecked     string                `json:"thresholds_not_shown,omitempty"`
}

// inspectThreshold is one threshold FILE is checked against, with the
// state of each authorized key's signature.
type inspectThreshold struct {
	Of        string       `json:"of"`
	By        string       `json:"by"`
	Role      string       `json:"role"`
	Threshold int          `json:"threshold"`
	Valid     int          `json:"valid"`
	Keys      []inspectKey `json:"keys"`
	Met       bool         `json:"met"`
}

type inspectKey struct {
	Key   string `json:"key"`
	State string `json:"state"` // "valid", "invalid" or "missing"
}

func runInspect(cmd *cobra.Command, o *inspectOpts, path string) error {
	at, err := parseAt(o.at)
	if err != nil {
		return err
	}
	if at.IsZero() {
		at = time.Now()
	}
	m, err := loadMetadata(path, "")
	if err != nil {
		return err
	}
	out := inspectJSON{File: path, Type: m.Type, Version: m.Version, SpecVersion: m.SpecVersion,
		Timestamp: trust.FormatTime(m.Timestamp), Expiration: trust.FormatTime(m.Expiration),
		DaysToExpiry: int(m.Expiration.Sub(at).Hours() / 24), Expired: m.Expired(at),
		Delegations: map[string]inspectDel{}, Signatures: []inspectSig{}}
	for name, d := range m.Delegations {
		keys := make([]string, len(d.Keys))
		for i, k := range d.Keys {
			keys[i] = k.String()
		}
		out.Delegations[name] = inspectDel{Keys: keys, Threshold: d.Threshold}
	}
	mode := trust.ModeFor(m.Type)
	for _, s := range m.Envelope.Signatures() {
		is := inspectSig{Key: s.KeyID, Form: s.Form.String(), SeeAlso: s.SeeAlso, Problem: s.Problem}
		is.Valid = trust.SignatureValid(m.Envelope, s, trust.ModeAnyForm)
		is.Counted = trust.SignatureValid(m.Envelope, s, mode)
		out.Signatures = append(out.Signatures, is)
	}
	if m.Type == trust.RoleRoot {
		met := trust.CheckThreshold(m.Envelope, m.Delegations[trust.RoleRoot], trust.ModeOpenPGP).Met()
		out.RootThreshold = &met
	}
	auth, err := signingAuthority(&signMetadataOpts{root: o.root, previous: o.previous}, m, path)
	if err != nil {
		return err
	}
	if m.Type == trust.RoleRoot && auth.md != nil && auth.md.Version != m.Version-1 {
		return withHint(fmt.Errorf("%s: %s is not the previous root of %s", auth.path, auth.md.Name(), m.Name()), "%s", authorityHint(m))
	}
	out.Thresholds = inspectThresholds(m, auth.md)
	if auth.md == nil && auth.missing != "" {
		out.Unchecked = fmt.Sprintf("%s: %s; give %s", inspectUncheckedWhat(m), auth.missing, authorityFlag(m))
	}
	if o.json {
		return printJSON(cmd.OutOrStdout(), out)
	}
	printInspect(cmd.OutOrStdout(), out)
	return nil
}

// inspectThresholds counts m's signatures (trust.CheckThreshold, in the
// mode m's role requires) against each delegation m is verified by: a
// root's own root keys and the previous root's, when auth is that root;
// key_mgr's root's key_mgr keys and pkg_mgr's key_mgr's pkg_mgr keys, when
// auth is known. Each authorized key is valid (counted), invalid (an entry
// by it that did not count) or missing (no entry).
func inspectThresholds(m *trust.Metadata, auth *trust.Metadata) []inspectThreshold {
	type check struct {
		by   *trust.Metadata
		role string
	}
	var checks []check
	switch m.Type {
	case trust.RoleRoot:
		checks = append(checks, check{m, trust.RoleRoot})
		if auth != nil {
			checks = append(checks, check{auth, trust.RoleRoot})
		}
	case trust.RoleKeyMgr, trust.RolePkgMgr:
		if auth != nil {
			checks = append(checks, check{auth, m.Type})
		}
	}
	out := []inspectThreshold{}
	for _, c := range checks {
		r := trust.CheckThreshold(m.Envelope, c.by.Delegations[c.role], trust.ModeFor(m.Type))
		t := inspectThreshold{Of: fmt.Sprintf("%s's %s keys", c.by.Name(), c.role), By: c.by.Name(), Role: c.role,
			Threshold: r.Threshold, Valid: len(r.Valid), Met: r.Met(), Keys: []inspectKey{}}
		for _, k := range r.Authorized {
			state := "missing"
			switch {
			case slices.Contains(r.Valid, k):
				state = "valid"
			case slices.ContainsFunc(r.Ignored, func(ig trust.Ignored) bool { return strings.EqualFold(ig.KeyID, k.String()) }):
				state = "invalid"
			}
			t.Keys = append(t.Keys, inspectKey{Key: k.String(), State: state})
		}
		out = append(out, t)
	}
	return out
}

func inspectUncheckedWhat(m *trust.Metadata) string {
	switch m.Type {
	case trust.RoleRoot:
		return fmt.Sprintf("the threshold of the previous root v%d", m.Version-1)
	case trust.RoleKeyMgr:
		return "the root's key_mgr threshold"
	}
	return "key_mgr's pkg_mgr threshold"
}

func printInspect(w io.Writer, o inspectJSON) {
	fmt.Fprintf(w, "%s: %s version %d (spec %s)\n", o.File, o.Type, o.Version, o.SpecVersion)
	fmt.Fprintf(w, "  issued   %s\n", o.Timestamp)
	state := fmt.Sprintf("in %d days", o.DaysToExpiry)
	if o.Expired {
		state = fmt.Sprintf("EXPIRED %d days ago", -o.DaysToExpiry)
	}
	fmt.Fprintf(w, "  expires  %s (%s)\n", o.Expiration, state)
	names := make([]string, 0, len(o.Delegations))
	for n := range o.Delegations {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d := o.Delegations[n]
		fmt.Fprintf(w, "  delegates %s: threshold %d of %d key(s)\n", n, d.Threshold, len(d.Keys))
		for _, k := range d.Keys {
			fmt.Fprintf(w, "    %s\n", k)
		}
	}
	fmt.Fprintf(w, "  signatures: %d\n", len(o.Signatures))
	for _, s := range o.Signatures {
		v := "valid"
		switch {
		case s.Problem != "":
			v = "malformed: " + s.Problem
		case !s.Valid:
			v = "INVALID"
		case !s.Counted:
			v = "valid, but this form does not count for " + o.Type
		}
		fmt.Fprintf(w, "    %s %s: %s\n", s.Key, s.Form, v)
	}
	if o.RootThreshold != nil {
		state := "met"
		if !*o.RootThreshold {
			state = "NOT met"
		}
		fmt.Fprintf(w, "  own root threshold: %s\n", state)
	}
	for _, t := range o.Thresholds {
		state := "met"
		if !t.Met {
			state = "NOT met"
		}
		fmt.Fprintf(w, "  threshold of %s: %d valid of %d required: %s\n", t.Of, t.Valid, t.Threshold, state)
		for _, k := range t.Keys {
			v := "signed, valid"
			switch k.State {
			case "invalid":
				v = "signed, INVALID (does not count)"
			case "missing":
				v = "missing"
			}
			fmt.Fprintf(w, "    %s %s\n", k.Key, v)
		}
	}
	if o.Unchecked != "" {
		fmt.Fprintf(w, "  not shown: %s\n", o.Unchecked)
	}
}

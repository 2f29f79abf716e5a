package main

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/trust"
)

type inspectOpts struct {
	json bool
	at   string
}

func init() {
	register(func() *cobra.Command {
		o := &inspectOpts{}
		cmd := &cobra.Command{
			Use:   "inspect FILE [--json]",
			Short: "Show a metadata file: role, version, times, delegations, signatures",
			Long: `Show what a root, key_mgr or pkg_mgr file says: its role and version, when it
was issued and when it expires (and in how many days), whom it delegates to
with which threshold, and each signature: its key, its form, and whether it
is cryptographically valid. For a root, also whether its own root threshold
is met. inspect does not decide trust: use verify-metadata for that.`,
			Example: `  conda-trust inspect 1.root.json
  conda-trust inspect key_mgr.json --json`,
			Args: exactArgs(1, "the metadata FILE"),
			RunE: func(cmd *cobra.Command, args []string) error { return runInspect(cmd, o, args[0]) },
		}
		cmd.Flags().BoolVar(&o.json, "json", false, "print as JSON")
		cmd.Flags().StringVar(&o.at, "at", "", "reference time for days to expiry, RFC 3339 (default now)")
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
	if o.json {
		return printJSON(cmd.OutOrStdout(), out)
	}
	printInspect(cmd.OutOrStdout(), out)
	return nil
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
}

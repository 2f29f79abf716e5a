package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/trust"
)

type trustUpdateJSON struct {
	Channel        string   `json:"channel"`
	Trusted        bool     `json:"trusted"`
	RootsAdded     []int64  `json:"roots_added"`
	RootVersion    int64    `json:"root_version,omitempty"`
	KeyMgrVersion  int64    `json:"key_mgr_version,omitempty"`
	PreviousKeyMgr int64    `json:"previous_key_mgr_version,omitempty"`
	Warnings       []string `json:"warnings"`
	Rule           string   `json:"rule,omitempty"`
	Error          string   `json:"error,omitempty"`
}

func newTrustUpdateCmd() *cobra.Command {
	o := &clientOpts{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "update [CHANNEL_URL] [--json]",
		Short: "Fetch and verify newer roots and key_mgr.json (every pinned channel when none is named)",
		Long: `Walk the channel's root chain: fetch N+1.root.json after the newest trusted
root N until there is none, requiring each to be exactly the next version and
signed by a threshold of the previous root's keys AND of its own; store each.
Then fetch key_mgr.json and verify it against the newest root. The newest
root and key_mgr must not have expired; a key_mgr older than the stored one
is refused.

A root that fails is refused with its reason; it is never skipped, and the
roots verified before it stay stored.

` + trustStoreHelp + `

` + exitCodeHelp,
		Example: `  conda-trust update https://conda.example.com/main
  conda-trust update --json`,
		Args: maxArgs(1, "one CHANNEL_URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			var urls []string
			if len(args) == 1 {
				ch, err := channelArg(args[0])
				if err != nil {
					return err
				}
				urls = []string{ch}
			} else {
				chs, err := c.Store.Channels()
				if err != nil {
					return err
				}
				for _, ch := range chs {
					urls = append(urls, ch.URL)
				}
				if len(urls) == 0 {
					return withHint(fmt.Errorf("no channel pinned in %s", c.Store.Dir), "pin one with: conda-trust add CHANNEL_URL --root ROOT_FILE")
				}
			}
			ctx, cancel := interruptible(cmd)
			defer cancel()
			var results []trustUpdateJSON
			var firstErr error
			for _, u := range urls {
				st, err := c.Update(ctx, u)
				j := trustUpdateJSON{Channel: u, Trusted: err == nil, RootsAdded: []int64{}, Warnings: []string{}}
				if st != nil {
					j.RootsAdded = append(j.RootsAdded, st.RootsAdded...)
					j.Warnings = append(j.Warnings, st.Warnings...)
					j.PreviousKeyMgr = st.PreviousKeyMgr
					if st.Root != nil {
						j.RootVersion = st.Root.Version
					}
					if st.KeyMgr != nil {
						j.KeyMgrVersion = st.KeyMgr.Version
					}
				}
				if err != nil {
					j.Rule, j.Error = string(client.RuleOf(err)), err.Error()
					if firstErr == nil {
						firstErr = err
					}
				}
				results = append(results, j)
				if !asJSON {
					printUpdate(cmd.OutOrStdout(), cmd.ErrOrStderr(), j, st)
				}
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), results); err != nil {
					return err
				}
				if firstErr != nil {
					return &silent{firstErr}
				}
				return nil
			}
			if firstErr != nil && len(urls) > 1 {
				return fmt.Errorf("%d channel(s) not updated: %w", countErrs(results), firstErr)
			}
			return clientHint(firstErr)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	o.addStore(fs)
	o.addPolicy(fs)
	o.addNetwork(fs)
	return cmd
}

func countErrs(rs []trustUpdateJSON) int {
	n := 0
	for _, r := range rs {
		if r.Error != "" {
			n++
		}
	}
	return n
}

func printUpdate(w, errw io.Writer, j trustUpdateJSON, st *client.State) {
	warn(errw, j.Warnings)
	for _, v := range j.RootsAdded {
		fmt.Fprintf(w, "%s: root v%d verified and stored\n", j.Channel, v)
	}
	if j.Error != "" {
		return
	}
	fmt.Fprintf(w, "%s: trusted: root v%d (expires %s), key_mgr v%d (expires %s)",
		j.Channel, j.RootVersion, trust.FormatTime(st.Root.Expiration), j.KeyMgrVersion, trust.FormatTime(st.KeyMgr.Expiration))
	if j.PreviousKeyMgr != 0 && j.PreviousKeyMgr != j.KeyMgrVersion {
		fmt.Fprintf(w, ", was key_mgr v%d", j.PreviousKeyMgr)
	}
	fmt.Fprintln(w)
	if d, ok := st.KeyMgr.Delegations[trust.RolePkgMgr]; ok {
		fmt.Fprintf(w, "  package records need %d of %d pkg_mgr key(s)\n", d.Threshold, len(d.Keys))
	}
}

package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/condapkg"
	"github.com/condatrust/condatrust/envaudit/envtest"
)

// The test binary (and only it: this is a _test.go file) has a hidden
// command that builds the envtest sample package and installs packages
// into a prefix the way conda does, for verify_env_files.txtar: a
// testscript cannot write conda-meta records that name a package's
// sha256 or relocate files for $WORK.
//
//	conda-trust envtest package DIR                  write demo-files-1.0-0.tar.bz2 (noarch) into DIR
//	conda-trust envtest install PREFIX PKG CHANNEL   install PKG from the channel folder CHANNEL
func init() {
	register(func() *cobra.Command {
		return &cobra.Command{
			Use:    "envtest package DIR | install PREFIX PKG CHANNEL_DIR",
			Short:  "test only: build and install packages as conda does",
			Hidden: true,
			Args:   cobra.RangeArgs(2, 4),
			RunE: func(cmd *cobra.Command, args []string) error {
				switch {
				case args[0] == "package" && len(args) == 2:
					spec := envtest.Spec("demo-files", "1.0", "0", "", envtest.SampleFiles())
					p, err := spec.WriteTo(args[1], condapkg.TarBz2, condapkg.WriteOptions{})
					if err == nil {
						fmt.Fprintln(cmd.OutOrStdout(), p)
					}
					return err
				case args[0] == "install" && len(args) == 4:
					url, err := client.FileURL(args[3])
					if err != nil {
						return err
					}
					meta, err := envtest.Install(args[1], args[2], envtest.Options{ChannelURL: url})
					if err == nil {
						fmt.Fprintln(cmd.OutOrStdout(), filepath.ToSlash(meta))
					}
					return err
				}
				return usageError("envtest package DIR | envtest install PREFIX PKG CHANNEL_DIR")
			},
		}
	})
}

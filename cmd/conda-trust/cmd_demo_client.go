package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/condatrust/condatrust/client"
)

// useClient is the user's side of the demo: pin the channel's root, fetch
// a package through every check, then fetch the same package from a
// tampered mirror and show that nothing is written.
func (c *demoChannel) useClient() error {
	c.say("A user pins the channel's root, then fetches demo-app: nothing is written unless every check passes")
	trustDir := filepath.Join(c.dir, "trust")
	url, err := client.FileURL(c.channel)
	if err != nil {
		return err
	}
	root := filepath.Join(c.channel, "1.root.json")
	app := c.host + "/demo-app-1.0-0.conda"
	if err := c.run(0, "add", url, "--root", root, "--trust-dir", trustDir); err != nil {
		return err
	}
	good := filepath.Join(c.dir, "downloads")
	if err := c.run(0, "fetch", url, app, "-o", good, "--trust-dir", trustDir); err != nil {
		return err
	}

	// A mirror serving the swapped build under the same name.
	mirror := filepath.Join(c.dir, "mirror")
	if err := os.CopyFS(mirror, os.DirFS(c.channel)); err != nil {
		return err
	}
	evil, err := os.ReadFile(filepath.Join(c.dir, "tampered", "demo-app-1.0-0.conda"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(mirror, filepath.FromSlash(app)), evil, 0o644); err != nil {
		return err
	}
	murl, err := client.FileURL(mirror)
	if err != nil {
		return err
	}
	if err := c.run(0, "add", murl, "--root", root, "--trust-dir", trustDir); err != nil {
		return err
	}
	bad := filepath.Join(c.dir, "downloads-from-mirror")
	if err := c.run(exitUntrusted, "fetch", murl, app, "-o", bad, "--trust-dir", trustDir); err != nil {
		return err
	}
	if ents, _ := os.ReadDir(bad); len(ents) > 0 {
		return fmt.Errorf("the refused download left %d file(s) in %s: this is a bug, please report it", len(ents), bad)
	}
	c.detail("nothing was written to %s", bad)
	return nil
}

// run runs a conda-trust command as a user would type it, shows it and its
// output, and checks its exit code.
func (c *demoChannel) run(want int, args ...string) error {
	var out bytes.Buffer
	c.detail("$ conda-trust %s", strings.Join(args, " "))
	code := Main(args, &out, &out)
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if line != "" {
			c.detail("  %s", line)
		}
	}
	if code != want {
		return fmt.Errorf("demo: 'conda-trust %s' exited %d, expected %d", strings.Join(args, " "), code, want)
	}
	return nil
}

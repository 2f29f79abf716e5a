package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/proxy"
)

// useProxy starts the verifying proxy on a free loopback port in front of
// the channel and the tampered mirror, and fetches demo-app through it as
// any conda client would: from the channel it gets the signed bytes, from
// the mirror an error, never the swapped build.
func (c *demoChannel) useProxy() error {
	c.say("The same through the verifying proxy: any client (conda, mamba, pixi) gets only what verifies")
	trustDir := filepath.Join(c.dir, "trust")
	chURL, err := client.FileURL(c.channel)
	if err != nil {
		return err
	}
	mURL, err := client.FileURL(filepath.Join(c.dir, "mirror"))
	if err != nil {
		return err
	}
	srv, err := proxy.New(proxy.Config{
		Channels: []proxy.Channel{{Name: "main", URL: chURL}, {Name: "mirror", URL: mURL}},
		TrustDir: trustDir, CacheDir: filepath.Join(c.dir, "proxy-cache"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	defer func() {
		cancel()
		<-done
	}()
	base := "http://" + l.Addr().String()
	c.detail("$ conda-trust proxy --listen %s --channel main=%s --channel mirror=%s --trust-dir %s", l.Addr(), chURL, mURL, trustDir)
	if err := waitReady(base); err != nil {
		return err
	}
	app := c.host + "/demo-app-1.0-0.conda"
	// The mirror first: its upstream bytes are the swapped build.
	for _, step := range []struct {
		name string
		ok   bool
		note string
	}{
		{"mirror", false, ""},
		{"main", true, "the signed record's size and sha256; now in the proxy's cache, by content"},
		{"mirror", true, "the verified bytes from the cache: the mirror's swapped build never reaches a client"},
	} {
		u := base + "/" + step.name + "/" + app
		status, body, err := httpGet(u)
		if err != nil {
			return err
		}
		switch {
		case step.ok && status == http.StatusOK:
			c.detail("GET %s -> %d, %d bytes (%s)", u, status, len(body), step.note)
		case !step.ok && status != http.StatusOK:
			c.detail("GET %s -> %d: %s", u, status, strings.TrimSpace(string(body)))
		default:
			return fmt.Errorf("demo: GET %s answered %d, not what the proxy must answer: this is a bug, please report it", u, status)
		}
	}
	c.detail("conda: conda install -c %s/main --override-channels demo-app", base)
	return nil
}

// waitReady waits until the proxy's /healthz answers 200.
func waitReady(base string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: the proxy at %s was not ready after 30s", base)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// httpGet fetches u and returns its status and body.
func httpGet(u string) (int, []byte, error) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, body, err
}

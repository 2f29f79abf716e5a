package main

import (
	"strings"
	"testing"

	"github.com/condatrust/condatrust/proxy"
)

func TestParseProxyFile(t *testing.T) {
	good := `listen = "127.0.0.1:9000"
cache_max = "2GiB"
refresh = "30s"

[[channel]]
name = "conda-forge"
url = "https://conda.example.org/conda-forge"

[[channel]]
name = "local"
url = "/srv/channel"
`
	pf, err := parseProxyFile("p.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if pf.Listen != "127.0.0.1:9000" || len(pf.Channels) != 2 || pf.Channels[1].URL != "/srv/channel" {
		t.Errorf("parsed %+v", pf)
	}
	for _, c := range []struct{ in, want string }{
		{`listen = "a"` + "\n" + `lisen = "b"`, `p.toml: unknown key(s) lisen`},
		{`listen = "a"` + "\n" + `listen = "b"`, `p.toml: line 2:`},
		{`max_conns = "ten"`, `p.toml:`},
		{"[[channel]]\nname = \"x\"", `[[channel]] number 1 needs both name and url`},
		{"[[channel]]\nname = \"x\"\nurl = \"u\"\n[[channel]]\nname = \"x\"\nurl = \"v\"", `channel "x" is defined twice`},
	} {
		_, err := parseProxyFile("p.toml", []byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "512": 512, "1KiB": 1024, "2 GiB": 2 << 30, "20GB": 20e9, "7B": 7} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5GB", "GB", "9999999999TiB", "12 parsecs"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestChannelFlagAndListen(t *testing.T) {
	if c, err := parseChannelFlag("cf=https://x/cf"); err != nil || c.Name != "cf" || c.URL != "https://x/cf" {
		t.Errorf("%+v %v", c, err)
	}
	for _, bad := range []string{"cf", "=u", "cf=", "../x=u", "a/b=u", ".h=u"} {
		if _, err := parseChannelFlag(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for addr, ok := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, "0.0.0.0:1": false, "10.0.0.1:1": false, ":8787": false, "nohost": false} {
		if err := checkListen(addr, false); (err == nil) != ok {
			t.Errorf("%q: %v", addr, err)
		}
	}
	if err := checkListen("0.0.0.0:1", true); err != nil {
		t.Error(err)
	}
}

// FuzzParseProxyFile: any input gives a config or an error naming the
// file, never a panic.
func FuzzParseProxyFile(f *testing.F) {
	f.Add([]byte("listen = \"127.0.0.1:1\"\n[[channel]]\nname = \"a\"\nurl = \"b\"\n"))
	f.Add([]byte("[[channel]]\n[[channel]]\n"))
	f.Add([]byte("cache_max = 3\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := parseProxyFile("f.toml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.toml:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, c := range pf.Channels {
			if c.Name == "" || c.URL == "" {
				t.Fatalf("channel without name or url accepted: %+v", c)
			}
		}
	})
}

func TestProxyFileLegacyChannel(t *testing.T) {
	pf, err := parseProxyFile("p.toml", []byte(`legacy_keys = "/etc/keys"
legacy_channel_keys = "/etc/pins"

[[channel]]
name = "old"
url = "https://old.example.org/ch"
legacy = true
trusted_keys = ["MyKey"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if pf.LegacyKeys != "/etc/keys" || pf.LegacyChannelKeys != "/etc/pins" || len(pf.Channels) != 1 ||
		!pf.Channels[0].Legacy || len(pf.Channels[0].TrustedKeys) != 1 || pf.Channels[0].TrustedKeys[0] != "MyKey" {
		t.Errorf("parsed %+v", pf)
	}
	_, err = parseProxyFile("p.toml", []byte("[[channel]]\nname = \"x\"\nurl = \"u\"\ntrusted_keys = [\"MyKey\"]\n"))
	if err == nil || !strings.Contains(err.Error(), "only for a channel with legacy = true") {
		t.Errorf("trusted_keys on a content-trust channel: %v", err)
	}
}

func TestProxyLegacyConfig(t *testing.T) {
	legacy := []proxyChannel{{Name: "old", URL: "https://old.example.org/ch", Legacy: true, TrustedKeys: []string{"MyKey"}}}
	plain := []proxyChannel{{Name: "cf", URL: "https://conda.example.org/cf"}}
	for _, c := range []struct {
		name  string
		o     proxyOpts
		chans []proxyChannel
		want  string // "" for success
	}{
		{"legacy channel with keys", proxyOpts{legacyKeys: "/k"}, legacy, ""},
		{"no keys folder", proxyOpts{}, legacy, "needs --legacy-keys DIR"},
		{"no trusted key", proxyOpts{legacyKeys: "/k"}, []proxyChannel{{Name: "old", URL: "u", Legacy: true}}, "no conda sign key is trusted for it"},
		{"bad key name", proxyOpts{legacyKeys: "/k"}, []proxyChannel{{Name: "old", URL: "u", Legacy: true, TrustedKeys: []string{"../x"}}}, "--legacy-key"},
		{"keys folder without a legacy channel", proxyOpts{legacyKeys: "/k"}, plain, "apply only to legacy channels"},
		{"pinning file missing", proxyOpts{legacyKeys: "/k", legacyChannelKeys: "/nonexistent/pins"}, legacy, "no such file"},
		{"content-trust channel alone", proxyOpts{}, plain, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var cfg proxy.Config
			err := proxyLegacyConfig(&c.o, c.chans, &cfg)
			switch {
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want == "":
				if c.chans[0].Legacy && cfg.LegacyKeys != c.o.legacyKeys {
					t.Errorf("LegacyKeys %q", cfg.LegacyKeys)
				}
			case err == nil || !strings.Contains(err.Error(), c.want):
				t.Errorf("%v, want %q", err, c.want)
			}
		})
	}
}

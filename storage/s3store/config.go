// Package s3store is the [storage.Store] of a channel in a bucket of
// S3-compatible object storage (AWS S3, MinIO, versitygw, Ceph, R2 ...),
// named s3://BUCKET/PREFIX. It is a leaf: only the command line imports
// it, so the verification path never links an S3 client.
//
// # Configuration
//
// [ConfigFromEnv] reads what the AWS command line and SDKs read:
//
//   - credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
//     AWS_SESSION_TOKEN; else the profile AWS_PROFILE (default "default")
//     of ~/.aws/credentials and ~/.aws/config (AWS_SHARED_CREDENTIALS_FILE,
//     AWS_CONFIG_FILE); else anonymous requests (a public bucket);
//   - region: AWS_REGION, AWS_DEFAULT_REGION, or the profile's "region"
//     in ~/.aws/config; default us-east-1;
//   - endpoint: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or the profile's
//     "endpoint_url"; default AWS S3. An http:// endpoint is spoken to
//     without TLS;
//   - addressing: AWS_S3_FORCE_PATH_STYLE=true sends path-style requests
//     (http://ENDPOINT/BUCKET/KEY), =false virtual-hosted ones
//     (http://BUCKET.ENDPOINT/KEY); unset, AWS endpoints get
//     virtual-hosted requests and other endpoints path-style ones.
//
// # Reads
//
// A [Reader] of an object up to [Config.SmallObject] bytes (default 8
// MiB) reads it whole into memory with one GET: a .conda's zip directory
// is at its end, and one request costs less than several. A larger
// object is streamed by one GET from its start, while the reads a .conda
// needs elsewhere (the zip directory at the end, two local headers) are
// ranged GETs, the end cached once; every ranged GET names the ETag of
// the first answer (If-Match), so all bytes come from one version.
//
// # Writes
//
// Put is one PUT (a multipart upload above 64 MiB, completed in one
// request): S3 makes the object visible whole, only once the upload has
// completed. An interrupted Put leaves the old object.
package s3store

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/ini.v1"
)

// Config says how to reach the storage.
type Config struct {
	// Endpoint is the server's URL, such as http://127.0.0.1:7070; ""
	// is AWS S3 (https).
	Endpoint string
	// Region is the bucket's region; "" is us-east-1.
	Region string
	// AccessKey, SecretKey and SessionToken are the credentials; empty
	// AccessKey: the profile's in the shared files, else anonymous.
	AccessKey, SecretKey, SessionToken string
	// Profile names the shared files' profile ("" is AWS_PROFILE, then
	// "default").
	Profile string
	// PathStyle forces path-style (true) or virtual-hosted (false)
	// requests; nil decides by the endpoint.
	PathStyle *bool
	// SmallObject is the size up to which a Reader reads an object whole
	// with one GET; 0 means 8 MiB, negative never.
	SmallObject int64
	// Transport carries the requests; nil is a default transport. Tests
	// count requests with it.
	Transport http.RoundTripper
	// MaxRetries is how often a failed request is retried; 0 means 3.
	MaxRetries int
}

// ConfigFromEnv returns the configuration the AWS environment variables
// and shared configuration files give (see the package documentation).
func ConfigFromEnv() (Config, error) {
	c := Config{
		AccessKey:    firstEnv("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"),
		SecretKey:    firstEnv("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"),
		SessionToken: os.Getenv("AWS_SESSION_TOKEN"),
		Profile:      os.Getenv("AWS_PROFILE"),
		Region:       firstEnv("AWS_REGION", "AWS_DEFAULT_REGION"),
		Endpoint:     firstEnv("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
	}
	if c.Region == "" || c.Endpoint == "" {
		region, endpoint, err := sharedConfig(c.Profile)
		if err != nil {
			return c, err
		}
		if c.Region == "" {
			c.Region = region
		}
		if c.Endpoint == "" {
			c.Endpoint = endpoint
		}
	}
	if v := os.Getenv("AWS_S3_FORCE_PATH_STYLE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("AWS_S3_FORCE_PATH_STYLE=%q: give true (path-style requests) or false (virtual-hosted)", v)
		}
		c.PathStyle = &b
	}
	return c, nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// sharedConfig reads region and endpoint_url of the profile in the AWS
// config file. A missing file is no error.
func sharedConfig(profile string) (region, endpoint string, err error) {
	path := os.Getenv("AWS_CONFIG_FILE")
	if path == "" {
		home, herr := os.UserHomeDir()
		if herr != nil {
			return "", "", nil
		}
		path = filepath.Join(home, ".aws", "config")
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	f, err := ini.Load(data)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", path, err)
	}
	section := "default"
	if profile != "" && profile != "default" {
		section = "profile " + profile
	}
	s, err := f.GetSection(section)
	if err != nil {
		return "", "", nil
	}
	return s.Key("region").String(), s.Key("endpoint_url").String(), nil
}

// ParseURL splits s3://BUCKET/PREFIX into the bucket and the prefix
// (without slashes at either end; "" for the bucket's top).
func ParseURL(raw string) (bucket, prefix string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", err
	}
	switch {
	case !strings.EqualFold(u.Scheme, "s3"):
		return "", "", fmt.Errorf("%s: not an s3:// URL", raw)
	case u.Host == "":
		return "", "", fmt.Errorf("%s: no bucket: write s3://BUCKET/PREFIX", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", "", fmt.Errorf("%s: an s3:// URL has no credentials, query or fragment; credentials come from the AWS environment variables or ~/.aws", raw)
	}
	prefix = strings.Trim(u.Path, "/")
	for _, seg := range strings.Split(prefix, "/") {
		if (seg == "" && prefix != "") || seg == "." || seg == ".." {
			return "", "", fmt.Errorf("%s: the prefix has an empty, \".\" or \"..\" segment", raw)
		}
	}
	return u.Host, prefix, nil
}

// IsURL reports whether s is an s3:// URL (any case).
func IsURL(s string) bool {
	return len(s) >= 5 && strings.EqualFold(s[:5], "s3://")
}

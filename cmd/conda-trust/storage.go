package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"

	"github.com/condatrust/condatrust/client"
	"github.com/condatrust/condatrust/repodata"
	"github.com/condatrust/condatrust/storage"
	"github.com/condatrust/condatrust/storage/s3store"
)

// s3Hint says where the S3 settings come from (docs/s3.md).
const s3Hint = "S3 credentials and endpoint come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL (for S3-compatible servers), AWS_PROFILE with ~/.aws/credentials and ~/.aws/config; AWS_S3_FORCE_PATH_STYLE=true sends path-style requests (docs/s3.md)"

// s3 holds the S3 fetcher of this process, configured from the
// environment on first use, so that commands that never touch a bucket
// never read the AWS settings.
var s3 struct {
	once    sync.Once
	fetcher *s3store.Fetcher
	cfg     s3store.Config
	err     error
}

func s3Setup() (*s3store.Fetcher, s3store.Config, error) {
	s3.once.Do(func() {
		s3.cfg, s3.err = s3store.ConfigFromEnv()
		if s3.err == nil {
			s3.fetcher, s3.err = s3store.NewFetcher(s3.cfg)
		}
		if s3.err != nil {
			s3.err = withHint(s3.err, "%s", s3Hint)
		}
	})
	return s3.fetcher, s3.cfg, s3.err
}

// openChannelStore returns the store of a channel: a bucket for
// s3://BUCKET/PREFIX, else the local folder.
func openChannelStore(loc string) (storage.Store, error) {
	if !s3store.IsURL(loc) {
		return storage.NewFolder(loc), nil
	}
	_, cfg, err := s3Setup()
	if err != nil {
		return nil, err
	}
	st, err := s3store.Open(loc, cfg)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return st, nil
}

// s3Fetcher is the client's Fetcher for s3:// URLs.
func s3Fetcher() client.Fetcher {
	return client.ObjectFetcher{Open: func(ctx context.Context, url, ifNoneMatch string) (io.ReadCloser, string, bool, error) {
		f, _, err := s3Setup()
		if err != nil {
			return nil, "", false, err
		}
		r, notModified, err := f.OpenIfChanged(ctx, url, ifNoneMatch)
		if err != nil || notModified {
			return nil, "", notModified, err
		}
		return r, r.ETag(), false, nil
	}}
}

// openInput opens a file named on the command line, or an object for an
// s3:// URL, for reading; errors name it.
func openInput(ctx context.Context, name string) (io.ReadCloser, error) {
	if !s3store.IsURL(name) {
		f, err := os.Open(name)
		if err != nil {
			return nil, withHint(err, "check the path; conda-trust reads the file as given")
		}
		return f, nil
	}
	f, _, err := s3Setup()
	if err != nil {
		return nil, err
	}
	r, err := f.Open(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, withHint(fmt.Errorf("%s: no such object: %w", name, fs.ErrNotExist), "check the bucket and key; %s", s3Hint)
	}
	if err != nil {
		return nil, withHint(err, "%s", s3Hint)
	}
	return r, nil
}

// readS3Input reads the object at an s3:// URL whole.
func readS3Input(name string) ([]byte, error) {
	r, err := openInput(context.Background(), name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// inputBase is the base name of a file or s3:// URL.
func inputBase(name string) string {
	if s3store.IsURL(name) {
		return path.Base(name)
	}
	return filepath.Base(name)
}

// openRepodata opens a repodata.json named on the command line: a file
// (memory-mapped) or the object of an s3:// URL (read whole).
func openRepodata(name string) (*repodata.File, error) {
	if !s3store.IsURL(name) {
		return repodata.Open(name)
	}
	data, err := readS3Input(name)
	if err != nil {
		return nil, err
	}
	f, err := repodata.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

package s3store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/condatrust/condatrust/storage/s3store"
	"github.com/condatrust/condatrust/storage/s3store/s3test"
)

func clearAWSEnv(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN",
		"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_S3_FORCE_PATH_STYLE",
		"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("HOME", t.TempDir())
}

func TestConfigFromEnv(t *testing.T) {
	clearAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AK")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "SK")
	t.Setenv("AWS_SESSION_TOKEN", "TOK")
	t.Setenv("AWS_ENDPOINT_URL", "http://general:1")
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://s3only:2")
	t.Setenv("AWS_DEFAULT_REGION", "eu-west-1")
	t.Setenv("AWS_S3_FORCE_PATH_STYLE", "true")
	c, err := s3store.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKey != "AK" || c.SecretKey != "SK" || c.SessionToken != "TOK" || c.Endpoint != "http://s3only:2" ||
		c.Region != "eu-west-1" || c.PathStyle == nil || !*c.PathStyle {
		t.Errorf("ConfigFromEnv = %+v", c)
	}
	t.Setenv("AWS_S3_FORCE_PATH_STYLE", "sometimes")
	if _, err := s3store.ConfigFromEnv(); err == nil {
		t.Error("AWS_S3_FORCE_PATH_STYLE=sometimes accepted")
	}
}

// TestSharedConfigFiles reaches the server with the credentials, region
// and endpoint of a named profile in the shared files, and no AWS_*
// credential variable.
func TestSharedConfigFiles(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "shared")
	clearAWSEnv(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	conf := filepath.Join(dir, "config")
	if err := os.WriteFile(creds, []byte("[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n[ci]\naws_access_key_id = "+
		s3test.AccessKey+"\naws_secret_access_key = "+s3test.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("[profile ci]\nregion = us-east-1\nendpoint_url = "+srv.Endpoint+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_CONFIG_FILE", conf)
	t.Setenv("AWS_PROFILE", "ci")
	cfg, err := s3store.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Endpoint != srv.Endpoint || cfg.Region != "us-east-1" {
		t.Fatalf("config %+v", cfg)
	}
	st, err := s3store.Open("s3://shared/ch", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), "noarch/x.json", []byte("{}")); err != nil {
		t.Fatalf("with the profile's credentials: %v", err)
	}
	t.Setenv("AWS_PROFILE", "default")
	cfg, _ = s3store.ConfigFromEnv()
	cfg.Endpoint = srv.Endpoint
	st, _ = s3store.Open("s3://shared/ch", cfg)
	if _, err := st.List(context.Background(), "noarch"); err == nil {
		t.Error("the default profile's wrong credentials were accepted")
	}
}

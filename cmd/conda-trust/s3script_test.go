package main

import (
	"context"
	"os"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/condatrust/condatrust/storage"
	"github.com/condatrust/condatrust/storage/s3store"
	"github.com/condatrust/condatrust/storage/s3store/s3test"
)

// The S3 commands of testscripts, against a real S3 server (versitygw)
// that the script starts; scripts guard them with [versitygw].
func init() {
	scriptCmds["s3server"] = cmdS3Server
	scriptCmds["s3cp"] = cmdS3Cp
	scriptCmds["s3get"] = cmdS3Get
}

// cmdS3Server starts versitygw over $WORK/s3 on a free loopback port,
// creates the given buckets, and sets the AWS_* variables that point
// conda-trust at it; the server stops with the script:
//
//	s3server channels
func cmdS3Server(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: s3server BUCKET...")
	}
	dir := ts.MkAbs("s3")
	ts.Check(os.MkdirAll(dir, 0o755))
	srv, stop, err := s3test.StartIn(dir)
	ts.Check(err)
	ts.Defer(stop)
	for _, b := range args {
		ts.Check(srv.MakeBucket(b))
	}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		ts.Setenv(k, v)
	}
}

func scriptS3Config(ts *testscript.TestScript) s3store.Config {
	yes := true
	return s3store.Config{Endpoint: ts.Getenv("AWS_ENDPOINT_URL"), AccessKey: ts.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey: ts.Getenv("AWS_SECRET_ACCESS_KEY"), PathStyle: &yes}
}

// cmdS3Cp uploads every file below DIR to s3://BUCKET/PREFIX through the
// S3 API (skipping .cache folders), as an operator's sync would:
//
//	s3cp out/channel s3://channels/demo
func cmdS3Cp(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: s3cp DIR s3://BUCKET/PREFIX")
	}
	st, err := s3store.Open(args[1], scriptS3Config(ts))
	ts.Check(err)
	ts.Check(s3test.Upload(context.Background(), st, ts.MkAbs(args[0]), ".cache"))
}

// cmdS3Get downloads the object at s3://BUCKET/KEY to FILE:
//
//	s3get s3://channels/demo/noarch/repodata.json rd.json
func cmdS3Get(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: s3get s3://BUCKET/KEY FILE")
	}
	bucket, key, err := s3store.ParseURL(args[0])
	ts.Check(err)
	st, err := s3store.Open("s3://"+bucket, scriptS3Config(ts))
	ts.Check(err)
	data, err := storage.ReadAll(context.Background(), st, key)
	if neg {
		if err == nil {
			ts.Fatalf("%s exists", args[0])
		}
		return
	}
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), data, 0o644))
}

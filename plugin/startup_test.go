package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/internal/testenv"
)

// These tests start the daemon against a real MinIO that is wrong in one
// way (issue 19.4): at start it must say exactly what is wrong, in its log,
// in /healthz and in the Docker calls' errors, keep running, and use the
// store within seconds once it is fixed.

// recoveryBound is how soon after the fix a create must succeed: a few
// connection retries at most (maxConnectBackoff), far below the ~60 s the
// doubling backoff gave.
const recoveryBound = 10 * time.Second

// serveOn starts the daemon on srv's bucket with the given keys, with
// /healthz on, and returns its client, the listener's base URL and its log.
func serveOn(t *testing.T, srv *miniotest.Server, bucket, accessKey, secretKey string) (*pluginClient, string, *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("access_key = "+accessKey+"\nsecret_key = "+secretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServe(t, []string{"--socket", filepath.Join(dir, "s3vol.sock"), "--state-dir", filepath.Join(dir, "state"),
		"--mount-root", filepath.Join(dir, "mounts"), "--endpoint", srv.URL(), "--region", srv.Region, "--path-style", "path",
		"--bucket", bucket, "--credentials-file", creds, "--http-addr", "127.0.0.1:0", "--log-level", "debug"})
}

// wantReported checks that the log, /healthz and a Create all name the
// cause, and that Get of an unknown name does not say "no such volume"
// (Docker would fall back to a local volume).
func wantReported(t *testing.T, c *pluginClient, base string, logs *syncBuffer, cause ...string) {
	t.Helper()
	says := func(s string) bool {
		for _, c := range cause {
			if !strings.Contains(s, c) {
				return false
			}
		}
		return true
	}
	waitUntil(t, 10*time.Second, fmt.Sprintf("an error in the log saying %q", cause), func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "level=error") && says(line) {
				return true
			}
		}
		return false
	})
	code, body := healthz(t, base)
	if code != http.StatusServiceUnavailable || !says(body) || strings.Contains(body, "does not answer") {
		t.Errorf("/healthz: %d %q; want 503 saying %q", code, body, cause)
	}
	msg, err := c.call("/VolumeDriver.Create", map[string]any{"Name": "v"}, nil)
	const lead = `s3vol could not create volume "v": s3vol is not connected to the object store`
	if err != nil || !strings.HasPrefix(msg, lead) || !says(msg) || strings.Contains(msg, "unreachable") {
		t.Errorf("create: %v %q; want it to start with %q and say %q", err, msg, lead, cause)
	}
	if msg, err := c.call("/VolumeDriver.Get", map[string]any{"Name": "v"}, nil); err == nil && strings.Contains(msg, "no such volume") {
		t.Errorf("get of a name while the store is not connected: %q; Docker takes that for a missing volume", msg)
	}
}

// waitForAttempts waits until the daemon has failed to connect n times, so
// that a slowly growing backoff would have grown.
func waitForAttempts(t *testing.T, logs *syncBuffer, n int) {
	t.Helper()
	waitUntil(t, time.Minute, fmt.Sprintf("%d connection attempts", n), func() bool {
		return strings.Contains(logs.String(), fmt.Sprintf("attempt=%d ", n))
	})
}

// wantRecovered waits (bounded) for a create to succeed, then for /healthz
// to say ok.
func wantRecovered(t *testing.T, c *pluginClient, base string) {
	t.Helper()
	var last string
	fixed := time.Now()
	deadline := fixed.Add(recoveryBound)
	for {
		msg, err := c.call("/VolumeDriver.Create", map[string]any{"Name": "v"}, nil)
		if err == nil && msg == "" {
			t.Logf("a create succeeded %v after the fix", time.Since(fixed).Round(time.Millisecond))
			break
		}
		last = fmt.Sprint(err, msg)
		if time.Now().After(deadline) {
			t.Fatalf("no create succeeded within %v of the fix; the last said %s", recoveryBound, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitUntil(t, recoveryBound, "/healthz to say ok", func() bool {
		code, _ := healthz(t, base)
		return code == http.StatusOK
	})
}

// A missing bucket is named at start; once it is made, the daemon uses it
// within seconds.
func TestServeStartsWithoutItsBucket(t *testing.T) {
	testenv.NeedFUSE(t)
	srv, _ := privateMinio(t)
	bucket := "s3vol-made-later"
	c, base, logs := serveOn(t, srv, bucket, srv.AccessKey, srv.SecretKey)
	wantReported(t, c, base, logs, "opening the data bucket", bucket, "does not exist: create it")
	waitForAttempts(t, logs, 5)

	mc, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: srv.Region}); err != nil {
		t.Fatal(err)
	}
	wantRecovered(t, c, base)
}

// Keys the server refuses are named at start, an unknown access key and a
// wrong secret key each as such; the daemon keeps running.
func TestServeStartsWithWrongKeys(t *testing.T) {
	testenv.NeedFUSE(t)
	srv, bucket := privateMinio(t)
	t.Run("secret", func(t *testing.T) {
		c, base, logs := serveOn(t, srv, bucket, srv.AccessKey, "not-the-secret-key")
		wantReported(t, c, base, logs, "does not match its access key: check the secret key")
	})
	t.Run("access", func(t *testing.T) {
		c, base, logs := serveOn(t, srv, bucket, "nobody-knows-me", srv.SecretKey)
		wantReported(t, c, base, logs, "the server does not know the access key")
	})
}

// A store that is down at start is named as such (nothing listens); once
// it is up again, the daemon uses it within seconds.
func TestServeStartsWithTheStoreDown(t *testing.T) {
	testenv.NeedFUSE(t)
	srv, bucket := privateMinio(t)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	c, base, logs := serveOn(t, srv, bucket, srv.AccessKey, srv.SecretKey)
	wantReported(t, c, base, logs, "nothing listens at "+srv.Endpoint+" (connection refused)")
	waitForAttempts(t, logs, 5)
	srv.StartT(t)
	wantRecovered(t, c, base)
}

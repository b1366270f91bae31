package miniotest

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestBucketSurvivesRestart checks the harness end to end: a bucket and an
// object written before a restart are there after it, on the same endpoint.
func TestBucketSurvivesRestart(t *testing.T) {
	srv := Shared(t)
	srv.NeedLocal(t)
	bucket := srv.NewBucket(t)
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := []byte("hello")
	if _, err := c.PutObject(ctx, bucket, "k", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	before := srv.Endpoint
	srv.Restart(t)
	if srv.Endpoint != before {
		t.Fatalf("endpoint changed across restart: %s -> %s", before, srv.Endpoint)
	}
	obj, err := c.GetObject(ctx, bucket, "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after restart read %q, %v; want %q", got, err, data)
	}
}

// TestStoppedServerRefuses checks that Stop really takes the endpoint away.
func TestStoppedServerRefuses(t *testing.T) {
	srv := Shared(t)
	srv.NeedLocal(t)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	defer srv.StartT(t)
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := c.ListBuckets(ctx); err == nil {
		t.Fatal("ListBuckets succeeded against a stopped server")
	}
}

func TestExternalEndpointParsing(t *testing.T) {
	t.Setenv("S3VOL_TEST_ACCESS_KEY", "a")
	t.Setenv("S3VOL_TEST_SECRET_KEY", "b")
	s, err := externalServer("https://s3.example.com/")
	if err != nil || s.Endpoint != "s3.example.com" || !s.Secure || s.Region != "us-east-1" {
		t.Fatalf("got %+v, %v", s, err)
	}
	t.Setenv("S3VOL_TEST_SECRET_KEY", "")
	if _, err := externalServer("127.0.0.1:9000"); err == nil {
		t.Fatal("missing secret key accepted")
	}
}

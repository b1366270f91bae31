package miniotest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// The server shared by the tests of one process.
var shared struct {
	mu  sync.Mutex
	srv *Server
	err error
}

// Main runs the tests and then stops the server Shared started. Use it from
// TestMain: func TestMain(m *testing.M) { os.Exit(miniotest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		if err := shared.srv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "miniotest:", err)
		}
		shared.srv = nil
	}
	return code
}

// Shared returns the test process's MinIO server, starting it on first use.
// When S3VOL_TEST_ENDPOINT is set (host:port or an http(s) URL, with
// S3VOL_TEST_ACCESS_KEY, S3VOL_TEST_SECRET_KEY and optionally
// S3VOL_TEST_REGION), that endpoint is used instead and nothing is started.
// A server that cannot start fails the test: the harness builds MinIO
// itself, so a failure means something is broken, not missing.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = startShared()
	}
	if shared.err != nil {
		t.Fatalf("miniotest: %v", shared.err)
	}
	return shared.srv
}

func startShared() (*Server, error) {
	if ep := os.Getenv("S3VOL_TEST_ENDPOINT"); ep != "" {
		return externalServer(ep)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // includes a first build
	defer cancel()
	return Start(ctx, "")
}

func externalServer(ep string) (*Server, error) {
	s := &Server{external: true, Endpoint: ep, Region: os.Getenv("S3VOL_TEST_REGION"),
		AccessKey: os.Getenv("S3VOL_TEST_ACCESS_KEY"), SecretKey: os.Getenv("S3VOL_TEST_SECRET_KEY")}
	switch {
	case strings.HasPrefix(ep, "https://"):
		s.Endpoint, s.Secure = strings.TrimPrefix(ep, "https://"), true
	case strings.HasPrefix(ep, "http://"):
		s.Endpoint = strings.TrimPrefix(ep, "http://")
	}
	s.Endpoint = strings.TrimSuffix(s.Endpoint, "/")
	if s.AccessKey == "" || s.SecretKey == "" {
		return nil, fmt.Errorf("S3VOL_TEST_ENDPOINT=%s needs S3VOL_TEST_ACCESS_KEY and S3VOL_TEST_SECRET_KEY", ep)
	}
	if s.Region == "" {
		s.Region = "us-east-1"
	}
	return s, nil
}

// External reports whether the server is an endpoint the harness did not
// start (it then cannot be stopped or restarted).
func (s *Server) External() bool { return s.external }

// Restart stops the server and starts it again on the same port and data;
// tests that need it skip on an external endpoint.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.NeedLocal(t)
	s.Stop()
	s.StartT(t)
}

// StartT starts a stopped server again, failing t if it cannot.
func (s *Server) StartT(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout+stopTimeout)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("miniotest: restarting MinIO: %v", err)
	}
}

// NeedLocal skips t when the server is an external endpoint, which tests
// cannot stop or restart.
func (s *Server) NeedLocal(t testing.TB) {
	t.Helper()
	if s.external {
		t.Skip("needs a MinIO started by the harness (S3VOL_TEST_ENDPOINT points at an external one)")
	}
}

// Client returns a minio-go client with the server's root credentials, for
// test setup and checks.
func (s *Server) Client() (*minio.Client, error) {
	c, err := minio.New(s.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure: s.Secure,
		Region: s.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("miniotest: client for %s: %w", s.Endpoint, err)
	}
	return c, nil
}

var bucketSeq atomic.Int64

// NewBucket creates a fresh bucket with a unique name; it is emptied and
// removed when t ends.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	c, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("s3vol-test-%s-%d", randomHex(4), bucketSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		t.Fatalf("miniotest: creating bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := s.removeBucket(c, name); err != nil {
			if t.Failed() {
				t.Logf("miniotest: %v", err) // likely a consequence of the failure
			} else {
				t.Errorf("miniotest: %v", err)
			}
		}
	})
	return name
}

// removeBucket deletes a test bucket. On a MinIO of ours it force-deletes:
// MinIO does not list a key "a/b" when "a" is an object too, so emptying
// by listing can leave objects behind.
func (s *Server) removeBucket(c *minio.Client, bucket string) error {
	if s.external {
		return RemoveBucket(c, bucket)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.RemoveBucketWithOptions(ctx, bucket, minio.RemoveBucketOptions{ForceDelete: true}); err != nil {
		return fmt.Errorf("removing bucket %s: %w", bucket, err)
	}
	return nil
}

// RemoveBucket deletes every object and unfinished upload in a bucket, then
// the bucket.
func RemoveBucket(c *minio.Client, bucket string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	objects := c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true})
	for res := range c.RemoveObjects(ctx, bucket, objects, minio.RemoveObjectsOptions{}) {
		if res.Err != nil {
			return fmt.Errorf("emptying bucket %s: %w", bucket, res.Err)
		}
	}
	for up := range c.ListIncompleteUploads(ctx, bucket, "", true) {
		if up.Err != nil {
			return fmt.Errorf("listing uploads in bucket %s: %w", bucket, up.Err)
		}
		if err := c.RemoveIncompleteUpload(ctx, bucket, up.Key); err != nil {
			return fmt.Errorf("aborting upload of %s in bucket %s: %w", up.Key, bucket, err)
		}
	}
	if err := c.RemoveBucket(ctx, bucket); err != nil {
		return fmt.Errorf("removing bucket %s: %w", bucket, err)
	}
	return nil
}

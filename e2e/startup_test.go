package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/s3vol/s3vol/internal/miniotest"
)

// Issue 19.4: a plugin started before its bucket exists tells the user of
// `docker volume create` that the bucket is missing (not that the store is
// unreachable), keeps running, and once the bucket is made the next
// create works within seconds.
func TestMissingBucketNamedThenUsed(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	h.stop(t)
	bucket := fmt.Sprintf("s3vol-e2e-later-%d", os.Getpid())
	h.env = append(h.env, "S3VOL_BUCKET="+bucket)
	h.startWithoutStore(t)

	_, stderr, err := e.d.Run(t, "volume", "create", "-d", h.Driver, "data")
	t.Logf("docker volume create without the bucket said: %s", strings.TrimSpace(stderr))
	if err == nil || !strings.Contains(stderr, `bucket "`+bucket+`"`) || !strings.Contains(stderr, "does not exist: create it") ||
		strings.Contains(stderr, "unreachable") {
		t.Fatalf("docker volume create without the bucket: %v, %q; want it to say the bucket does not exist", err, stderr)
	}

	c, err := e.srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: e.srv.Region}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := miniotest.RemoveBucket(c, bucket); err != nil {
			t.Logf("removing %s: %v", bucket, err)
		}
	})
	made := time.Now()
	eventually(t, 30*time.Second, "docker volume create never worked after the bucket was made", func() bool {
		_, _, err := e.d.Run(t, "volume", "create", "-d", h.Driver, "data")
		return err == nil
	})
	t.Logf("docker volume create worked %v after the bucket was made", time.Since(made).Round(time.Millisecond))
	e.sh(t, "echo hello > /data/f", "-v", "data:/data")
}

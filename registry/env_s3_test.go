package registry

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/s3store"
)

// brokenMinIO opens a store on a bucket and then removes the bucket, so
// every write fails.
func brokenMinIO(t *testing.T) store.Store {
	srv := miniotest.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("s3vol-gone-%d", time.Now().UnixNano())
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: srv.Region}); err != nil {
		t.Fatal(err)
	}
	s, err := s3store.New(ctx, s3store.Config{Endpoint: srv.URL(), Bucket: bucket,
		Region: srv.Region, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	return s
}

// openMinIO opens two fresh buckets on the shared MinIO server.
func openMinIO(t *testing.T) (store.Store, store.Store) {
	srv := miniotest.Shared(t)
	open := func() store.Store {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := s3store.New(ctx, s3store.Config{Endpoint: srv.URL(), Bucket: srv.NewBucket(t),
			Region: srv.Region, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return open(), open()
}

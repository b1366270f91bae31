package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/s3fs"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
	"github.com/s3vol/s3vol/store/s3store"
)

// runOnStore mounts s3fs over a fresh store of the kind named and runs the
// scripts in it. The mount's log goes to a file in the temporary folder.
func runOnStore(ctx context.Context, name, suite string, list []string, jobs int) ([]scriptResult, error) {
	work, err := os.MkdirTemp("", "s3vol-posix-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("creating the work folder: %w", err)
	}
	defer os.RemoveAll(work)
	st, closeStore, err := openStore(ctx, name, work)
	if err != nil {
		return nil, err
	}
	defer closeStore()

	logPath := filepath.Join(os.TempDir(), "s3vol-posix-"+name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating the mount's log: %w", err)
	}
	defer logFile.Close()
	logger := logrus.New()
	logger.SetOutput(logFile)
	logger.SetLevel(logrus.WarnLevel)

	mnt := filepath.Join(work, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return nil, fmt.Errorf("creating the mount point: %w", err)
	}
	m, err := s3fs.Mount(mnt, s3fs.Options{
		Store: st, Prefix: "vol/", CacheDir: filepath.Join(work, "cache"),
		MetadataTTL: time.Second, Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("mounting: %w", err)
	}
	defer unmount(m, mnt)
	fmt.Fprintf(os.Stderr, "posix: %d scripts on the %s store (mount log: %s)\n", len(list), name, logPath)
	start := time.Now()
	results := runAll(ctx, suite, mnt, list, jobs)
	fmt.Fprintf(os.Stderr, "posix: %s store done in %s\n", name, time.Since(start).Round(time.Second))
	return results, ctx.Err()
}

// openStore opens a fresh store: a local store in work, or a bucket of a
// MinIO started for the run.
func openStore(ctx context.Context, name, work string) (store.Store, func(), error) {
	if name == "local" {
		st, err := localstore.New(filepath.Join(work, "store"))
		if err != nil {
			return nil, nil, fmt.Errorf("opening the local store: %w", err)
		}
		return st, func() {}, nil
	}
	minioDir := filepath.Join(work, "minio")
	if err := os.MkdirAll(minioDir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("creating MinIO's folder: %w", err)
	}
	srv, err := miniotest.Start(ctx, minioDir)
	if err != nil {
		return nil, nil, fmt.Errorf("starting MinIO: %w", err)
	}
	const bucket = "posix"
	c, err := srv.Client()
	if err == nil {
		err = c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: srv.Region})
	}
	if err != nil {
		srv.Close()
		return nil, nil, fmt.Errorf("creating bucket %s: %w", bucket, err)
	}
	st, err := s3store.New(ctx, s3store.Config{Endpoint: srv.Endpoint, Bucket: bucket,
		Region: srv.Region, Lookup: s3store.LookupPath, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		srv.Close()
		return nil, nil, fmt.Errorf("opening bucket %s: %w", bucket, err)
	}
	return st, func() { srv.Close() }, nil
}

// unmountWait bounds the wait for an unmount: the results are what the run
// is for, and the process's exit ends the mount anyway.
const unmountWait = time.Minute

// unmount unmounts m, giving up after unmountWait.
func unmount(m *s3fs.Mounted, dir string) {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), unmountWait)
		defer cancel()
		done <- m.Unmount(ctx)
	}()
	select {
	case err := <-done:
		if err != nil {
			fmt.Fprintf(os.Stderr, "posix: unmounting %s: %v\n", dir, err)
		}
	case <-time.After(unmountWait):
		fmt.Fprintf(os.Stderr, "posix: %s is still mounted after %s; going on (it ends with this process)\n", dir, unmountWait)
	}
}

package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
	"github.com/s3vol/s3vol/store/s3store"
)

// stores are the data store and the metadata store (the same store when
// the registry shares the data bucket under MetaPrefix).
type stores struct {
	data, meta store.Store
	metaPrefix string
}

// openStores connects to the configured stores. For S3 this checks that the
// bucket exists and the credentials work, so its errors say which is wrong.
// onRetry, when set, hears of each retried S3 request (metrics).
func openStores(ctx context.Context, c *Config, pool store.BufferPool, onRetry func()) (stores, error) {
	if c.LocalStore() {
		return openLocalStores(c)
	}
	data, err := s3store.New(ctx, c.s3Config(c.Bucket, pool, onRetry))
	if err != nil {
		return stores{}, fmt.Errorf("opening the data bucket %q: %w", c.Bucket, err)
	}
	if c.MetaBucket == "" || c.MetaBucket == c.Bucket {
		return stores{data: data, meta: data, metaPrefix: MetaPrefix}, nil
	}
	meta, err := s3store.New(ctx, c.s3Config(c.MetaBucket, pool, onRetry))
	if err != nil {
		return stores{}, fmt.Errorf("opening the metadata bucket %q: %w", c.MetaBucket, err)
	}
	return stores{data: data, meta: meta}, nil
}

// openLocalStores opens the built-in local store: one folder per bucket
// under the state folder.
func openLocalStores(c *Config) (stores, error) {
	data, err := localstore.New(filepath.Join(c.LocalStoreDir(), c.Bucket))
	if err != nil {
		return stores{}, fmt.Errorf("opening the local store: %w", err)
	}
	if c.MetaBucket == "" || c.MetaBucket == c.Bucket {
		return stores{data: data, meta: data, metaPrefix: MetaPrefix}, nil
	}
	meta, err := localstore.New(filepath.Join(c.LocalStoreDir(), c.MetaBucket))
	if err != nil {
		return stores{}, fmt.Errorf("opening the local metadata store: %w", err)
	}
	return stores{data: data, meta: meta}, nil
}

// s3Config is the s3store configuration of one bucket. The keys come from
// the settings or the credentials file (read by loadCredentials); without
// them s3store falls back to the AWS_*/MINIO_* environment and files.
func (c *Config) s3Config(bucket string, pool store.BufferPool, onRetry func()) s3store.Config {
	lookup := s3store.LookupAuto
	switch c.PathStyle {
	case "path":
		lookup = s3store.LookupPath
	case "virtual":
		lookup = s3store.LookupDNS
	}
	return s3store.Config{
		Endpoint:     c.Endpoint,
		Bucket:       bucket,
		Region:       c.Region,
		Secure:       c.TLS,
		Lookup:       lookup,
		AccessKey:    c.AccessKey,
		SecretKey:    c.SecretKey,
		SessionToken: c.SessionToken,
		Upload:       store.WriterOptions{Pool: pool},
		OnRetry:      onRetry,
	}
}

// storeName names the configured data store for messages, before it is
// connected.
func (c *Config) storeName(bucket string) string {
	if c.LocalStore() {
		return "local:" + filepath.Join(c.LocalStoreDir(), bucket)
	}
	scheme := "https"
	if !c.TLS {
		scheme = "http"
	}
	return fmt.Sprintf("s3://%s (%s://%s)", bucket, scheme, c.Endpoint)
}

package s3store

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(miniotest.Main(m)) }

// testConfig reaches bucket on the test server with its root keys.
func testConfig(srv *miniotest.Server, bucket string) Config {
	return Config{Endpoint: srv.URL(), Bucket: bucket, Region: srv.Region, Lookup: LookupPath,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
}

// newStore returns a store on a fresh bucket of the shared MinIO.
func newStore(t testing.TB) *Store {
	t.Helper()
	srv := miniotest.Shared(t)
	return newStoreCfg(t, testConfig(srv, srv.NewBucket(t)))
}

func newStoreCfg(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := New(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ctxT is a bounded context for one test.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t) })
}

func sharedSrv(t testing.TB) *miniotest.Server { return miniotest.Shared(t) }

package s3store

import (
	"context"
	"os"
	"strings"
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

// MinIO supports listings with metadata, and the store must notice it: the
// conformance suite then requires every listed object to carry its metadata.
func TestListsMetadataOnMinIO(t *testing.T) {
	if !newStore(t).ListsMetadata() {
		t.Fatal("ListsMetadata is false on MinIO: the Server header was not recognised")
	}
}

// Metered counts every LIST page of a listing with metadata too.
func TestListMetadataPagesCounted(t *testing.T) {
	ctx := ctxT(t)
	m := store.NewMetered(newStore(t))
	for i := range 5 {
		k := string(rune('a' + i))
		if _, err := m.Put(ctx, k, strings.NewReader(k), 1, store.PutOptions{Metadata: map[string]string{"mode": "33188"}}); err != nil {
			t.Fatal(err)
		}
	}
	m.Reset()
	n := 0
	for o, err := range m.List(ctx, store.ListOptions{PageSize: 2, WithMetadata: true}) {
		if err != nil {
			t.Fatal(err)
		}
		if o.Metadata["mode"] != "33188" {
			t.Errorf("%q listed with metadata %v, want mode 33188", o.Key, o.Metadata)
		}
		n++
	}
	if got := m.Snapshot(); n != 5 || got[store.ReqList] != 3 || got[store.ReqStat] != 0 {
		t.Errorf("listed %d objects with %d LIST and %d HEAD requests, want 5 with 3 and 0", n, got[store.ReqList], got[store.ReqStat])
	}
}

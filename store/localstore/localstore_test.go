package localstore_test

import (
	"testing"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
	"github.com/s3vol/s3vol/store/storetest"
)

func newStore(t *testing.T) *localstore.Store {
	t.Helper()
	return newStoreIn(t, t.TempDir())
}

func newStoreIn(t *testing.T, dir string) *localstore.Store { return mustNew(t, dir) }

func mustNew(t testing.TB, dir string) *localstore.Store {
	t.Helper()
	s, err := localstore.New(dir)
	if err != nil {
		t.Fatalf("new store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t) })
}

// The local backend must take every key S3 allows, even those some S3
// servers refuse.
func TestUnusualKeysAllStored(t *testing.T) {
	storetest.CheckKeys(t, newStore(t), storetest.UnusualKeys(), true)
}

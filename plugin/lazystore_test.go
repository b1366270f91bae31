package main

import (
	"testing"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
)

// The daemon's stores are lazyStores: they must not hide what the
// connected store can do (s3fs skips a HEAD per file when listings carry
// metadata).
func TestLazyStoreForwardsListsMetadata(t *testing.T) {
	l := newLazyStore("test", make(chan struct{}, 1))
	if store.ListsMetadata(l) {
		t.Fatal("a store not connected yet claims its listings carry metadata")
	}
	st, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l.set(st)
	if got, want := store.ListsMetadata(l), store.ListsMetadata(st); got != want || !want {
		t.Fatalf("ListsMetadata through the lazy store = %v, the local store says %v (want true)", got, want)
	}
}

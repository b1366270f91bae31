package s3fs

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
	"github.com/s3vol/s3vol/store/localstore"
)

// TestLookupOfFolderWhenListFails: a lookup proves a folder with a LIST
// and a file with a HEAD. When the LIST fails, the HEAD's "not found"
// proves nothing: the lookup must fail with EIO, not say the folder does
// not exist (found by the chaos soak: a folder vanished after a restart).
func TestLookupOfFolderWhenListFails(t *testing.T) {
	local, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	st := faultstore.New(local)
	putObject(t, st, "v/d/f", []byte("in a folder"), nil)
	mt := mount(t, st, Options{Prefix: "v/", MetadataTTL: time.Nanosecond})

	st.Add(faultstore.Rule{Op: faultstore.OpList, Err: store.ErrUnavailable})
	_, err = os.Stat(mt.path("d"))
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("stat of a folder while LIST fails: %v, want EIO", err)
	}
	st.Clear()
	if info, err := os.Stat(mt.path("d")); err != nil || !info.IsDir() {
		t.Fatalf("stat of the folder once LIST works: %v, %v; want a folder", info, err)
	}
}

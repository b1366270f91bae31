package s3fs

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
)

// hangBound is how long the budget test lets a write and close take before
// it calls them stuck; on a working filesystem they take well under a
// second.
const hangBound = 2 * time.Minute

// Open, half-written files hold the whole memory budget (each a part
// buffer it took when it grew) and sit idle. Another file written past one
// part must still be written and closed: its upload takes no memory it
// would have to wait for from them, it spills its parts to the cache
// folder instead (issue 13.5). On the code before, its close waited for
// buffer memory that only the idle files could give back: for
// TransferTimeout (10 minutes by default) or, with the mount's own
// streaming writes, forever.
func TestWritesWhileBudgetHeldByIdleFiles(t *testing.T) {
	st, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const part = store.MinPartSize
	const holders = 4
	// One MiB over the holders' parts: the last holder grows to a whole
	// part from 1 MiB, holding both for a moment.
	pool := bufpool.New(holders*part + 1<<20)
	mt := mount(t, st, Options{Prefix: "v/", PartSize: part, Buffers: pool})

	// The idle holders: 2 MiB each makes each take a whole part.
	var open []*os.File
	closeHolders := func() {
		for _, f := range open {
			if err := f.Close(); err != nil {
				t.Errorf("closing a holder: %v", err)
			}
		}
		open = nil
	}
	defer closeHolders()
	held := pattern(9, 2<<20)
	for i := range holders {
		f, err := os.Create(mt.path("holder" + string(rune('a'+i))))
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, f)
		if _, err := f.Write(held); err != nil {
			t.Fatalf("writing holder %d: %v", i, err)
		}
	}
	if used, _ := pool.InUse(); pool.Budget()-used >= part {
		t.Fatalf("the holders use %d bytes of the %d-byte budget; the test needs them to leave no room for a part", used, pool.Budget())
	}

	big := pattern(3, 3*part+12345)
	done := make(chan error, 1)
	go func() { done <- os.WriteFile(mt.path("big"), big, 0o644) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("writing a %d-byte file while idle files hold the budget: %v", len(big), err)
		}
	case <-time.After(hangBound):
		// Closing the holders frees their memory, so the stuck call can
		// end and the mount can be unmounted.
		closeHolders()
		err := <-done
		t.Fatalf("writing and closing a %d-byte file did not finish within %v while idle half-written files hold the memory budget (it finished with %v once they were closed)",
			len(big), hangBound, err)
	}
	if got, _, err := getObject(t, st, "v/big"); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("stored big: %d bytes, %v; want its %d bytes", len(got), err, len(big))
	}
	closeHolders()
	for i := range holders {
		key := "v/holder" + string(rune('a'+i))
		if got, _, err := getObject(t, st, key); err != nil || !bytes.Equal(got, held) {
			t.Fatalf("stored %s: %d bytes, %v", key, len(got), err)
		}
	}
	if used, _ := pool.InUse(); used != 0 {
		t.Fatalf("%d bytes of the budget still in use after every file was closed", used)
	}
}

package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/s3vol/s3vol/store/faultstore"
)

// Issue 13.11: a Remove that deletes a volume while its Create is still
// writing the root marker must not leave that marker behind, owned by no
// volume. Here the root's PUT is slowed so that the delete and its purge
// finish before it lands.
func TestRemoveDuringCreateLeavesNoOrphan(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		slow := faultstore.New(e.data)
		slow.Add(faultstore.Rule{Op: faultstore.OpPut, Key: "acme/*", Delay: 300 * time.Millisecond})
		creator := e.registry("h1", func(c *Config) { c.Data = slow })
		deleter := e.registry("h2")

		done := make(chan error, 1)
		go func() {
			_, _, err := creator.Create(ctx, Spec{Name: "v"})
			done <- err
		}()
		waitFor(t, "the create never reserved the name", func() bool {
			v, err := deleter.Get(ctx, "v")
			return err == nil && v.State == StateCreating
		})
		if err := deleter.Delete(ctx, "v"); err != nil {
			t.Fatalf("delete of a volume being created: %v", err)
		}
		if err := deleter.WaitPurges(ctx); err != nil {
			t.Fatal(err)
		}
		err := <-done
		t.Logf("the create racing the delete returned: %v", err)
		if err == nil {
			t.Error("the create of a volume deleted meanwhile reported success")
		}
		checkNoOrphans(t, deleter)
	})
}

// The reproduction: 40 names, each with 5 Creates and 5 Removes at
// once, over two hosts; afterwards no data prefix is owned by no volume.
func TestRaceCreateRemoveLeavesNoOrphan(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		hosts := []*Registry{e.registry("h1"), e.registry("h2")}
		var wg sync.WaitGroup
		for i := range 40 {
			name := fmt.Sprintf("n%02d", i)
			for j := range 10 {
				h := hosts[j%2]
				wg.Go(func() {
					var err error
					if j < 5 {
						_, _, err = h.Create(ctx, Spec{Name: name})
					} else {
						err = h.Delete(ctx, name)
					}
					if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
						t.Errorf("%s: %v", name, err)
					}
				})
			}
		}
		wg.Wait()
		for _, h := range hosts {
			if err := h.WaitPurges(ctx); err != nil {
				t.Fatal(err)
			}
		}
		checkNoOrphans(t, hosts[0])
	})
}

// checkNoOrphans fails the test if Repair finds data prefixes owned by no
// volume. Repair first finishes whatever the racers left half done.
func checkNoOrphans(t *testing.T, r *Registry) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	orphans, err := r.findOrphans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(orphans) > 0 {
		ix, _, _ := r.load(ctx)
		t.Fatalf("%d data prefixes are owned by no volume: %v (index: %d entries, trash %+v)", len(orphans), orphans, len(ix.Entries), ix.Trash)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

package registry

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestRaceLimit: two hosts create 40 distinct volumes at once with 30 slots
// left; exactly 30 are created, the other 10 are refused by the limit.
func TestRaceLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		hosts := []*Registry{e.registry("h1"), e.registry("h2")}
		if _, err := hosts[0].SetLimit(ctx, 35); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if _, _, err := hosts[0].Create(ctx, Spec{Name: fmt.Sprintf("old%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		var ok, limited atomic.Int32
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				_, created, err := hosts[i%2].Create(ctx, Spec{Name: fmt.Sprintf("new%02d", i)})
				switch {
				case err == nil && created:
					ok.Add(1)
				case errors.Is(err, ErrLimitReached):
					limited.Add(1)
				default:
					t.Errorf("create new%02d: created=%v err=%v", i, created, err)
				}
			})
		}
		wg.Wait()
		info, err := hosts[1].Org(ctx)
		if err != nil {
			t.Fatal(err)
		}
		list, _ := hosts[1].List(ctx)
		t.Logf("created %d, refused %d, org %+v", ok.Load(), limited.Load(), info)
		if ok.Load() != 30 || limited.Load() != 10 || info.Used != 35 || len(list) != 35 {
			t.Fatalf("created %d refused %d used %d listed %d; want 30, 10, 35, 35", ok.Load(), limited.Load(), info.Used, len(list))
		}
		checkConsistent(t, e, hosts[0])
	})
}

// TestRaceSameName: 16 creates of one name on two hosts end with one
// volume, one "created" answer and 15 idempotent ones, all the same id.
func TestRaceSameName(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		hosts := []*Registry{e.registry("h1"), e.registry("h2")}
		var created, idem atomic.Int32
		ids := make([]string, 16)
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				v, c, err := hosts[i%2].Create(ctx, Spec{Name: "shared", Options: Options{UID: 7}})
				if err != nil {
					t.Errorf("create %d: %v", i, err)
					return
				}
				if v.State != StateReady {
					t.Errorf("create %d returned state %s", i, v.State)
				}
				ids[i] = v.ID
				if c {
					created.Add(1)
				} else {
					idem.Add(1)
				}
			})
		}
		wg.Wait()
		if created.Load() != 1 || idem.Load() != 15 {
			t.Fatalf("created %d, idempotent %d; want 1 and 15", created.Load(), idem.Load())
		}
		for i := range ids {
			if ids[i] != ids[0] {
				t.Fatalf("create %d got id %s, create 0 got %s", i, ids[i], ids[0])
			}
		}
		if info, _ := hosts[0].Org(ctx); info.Used != 1 {
			t.Fatalf("used %d", info.Used)
		}
		checkConsistent(t, e, hosts[0])
	})
}

// TestRaceCreateDelete: two hosts create and delete volumes at random while
// an observer reads the organization; no reading ever shows more volumes
// than the limit, and the final count is what the successes add up to.
func TestRaceCreateDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		hosts := []*Registry{e.registry("h1"), e.registry("h2")}
		const limit = 4
		if _, err := hosts[0].SetLimit(ctx, limit); err != nil {
			t.Fatal(err)
		}
		var creates, deletes atomic.Int32
		stop := make(chan struct{})
		var observer sync.WaitGroup
		observer.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				info, err := hosts[1].Org(ctx)
				if err != nil {
					t.Errorf("org: %v", err)
					return
				}
				if info.Used > limit {
					t.Errorf("observed %d volumes with a limit of %d", info.Used, limit)
				}
			}
		})
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				r := hosts[w%2]
				for i := range 8 {
					name := fmt.Sprintf("w%d-%d", w, i%3)
					if _, created, err := r.Create(ctx, Spec{Name: name}); err == nil && created {
						creates.Add(1)
					} else if err != nil && !errors.Is(err, ErrLimitReached) && !errors.Is(err, ErrConflict) {
						t.Errorf("create %s: %v", name, err)
					}
					if i%2 == 1 {
						if err := r.Delete(ctx, name); err == nil {
							deletes.Add(1)
						} else if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
							t.Errorf("delete %s: %v", name, err)
						}
					}
				}
			})
		}
		wg.Wait()
		close(stop)
		observer.Wait()
		info, err := hosts[0].Org(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d creates, %d deletes, %d left", creates.Load(), deletes.Load(), info.Used)
		if int(creates.Load()-deletes.Load()) != info.Used || info.Used > limit {
			t.Fatalf("%d creates - %d deletes != %d volumes left (limit %d)", creates.Load(), deletes.Load(), info.Used, limit)
		}
		if creates.Load() <= limit {
			t.Fatalf("only %d creates succeeded: the test did not exercise reuse of freed slots", creates.Load())
		}
		if _, err := hosts[0].Purge(ctx); err != nil {
			t.Fatal(err)
		}
		hosts[0].Close() // wait for background purges before checking
		hosts[1].Close()
		checkConsistent(t, e, e.registry("checker"))
	})
}

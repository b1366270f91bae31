package registry

import (
	"errors"
	"strings"
	"testing"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
)

// faultEnv is a registry whose metadata and data stores fail on demand.
type faultEnv struct {
	*env
	meta, data *faultstore.Store
	r          *Registry
}

func newFaultEnv(t *testing.T, e *env) *faultEnv {
	f := &faultEnv{env: e, meta: faultstore.New(e.meta), data: faultstore.New(e.data)}
	f.r = e.registry("h1", func(c *Config) { c.Meta, c.Data = f.meta, f.data })
	return f
}

func (f *faultEnv) indexKey() string { return f.prefix + "orgs/acme/index.json" }

// Issue 13 (fault store): a failed store call of Create, Delete or a purge
// reaches the caller with a clear message, leaves nothing half done that
// blocks the next attempt, and the same call works once the store does.
func TestFaultsCreate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		f := newFaultEnv(t, e)

		// The index write fails: nothing is reserved.
		f.meta.Add(faultstore.Rule{Op: faultstore.OpPut, Key: f.indexKey(), Err: store.ErrUnavailable})
		_, _, err := f.r.Create(ctx, Spec{Name: "v"})
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "writing the index") {
			t.Fatalf("create with the index write failing: %v", err)
		}
		f.meta.Clear()
		if _, err := f.r.Get(ctx, "v"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a failed create left an entry: %v", err)
		}

		// The root marker's write fails: the volume is in state error with
		// the reason, and creating it again finishes it.
		f.data.Add(faultstore.Rule{Op: faultstore.OpPut, Err: store.ErrUnavailable})
		_, _, err = f.r.Create(ctx, Spec{Name: "v"})
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), `creating volume "v"`) {
			t.Fatalf("create with the root write failing: %v", err)
		}
		if v, err := f.r.Get(ctx, "v"); err != nil || v.State != StateError || !strings.Contains(v.Reason, "unavailable") {
			t.Fatalf("after the failed root write: %+v, %v", v, err)
		}
		f.data.Clear()
		v, _, err := f.r.Create(ctx, Spec{Name: "v"})
		if err != nil || v.State != StateReady {
			t.Fatalf("create once the store works: %+v, %v", v, err)
		}
		checkConsistent(t, e, f.r)
	})
}

func TestFaultsDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		f := newFaultEnv(t, e)
		if _, _, err := f.r.Create(ctx, Spec{Name: "v"}); err != nil {
			t.Fatal(err)
		}
		// The first index write (the deleting mark) fails, then the second
		// (removing the entry): either way the volume stays usable.
		for nth := 1; nth <= 2; nth++ {
			f.meta.Add(faultstore.Rule{Op: faultstore.OpPut, Key: f.indexKey(), Nth: nth, Err: store.ErrUnavailable})
			err := f.r.Delete(ctx, "v")
			f.meta.Clear()
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("delete with index write %d failing: %v", nth, err)
			}
			if v, err := f.r.Get(ctx, "v"); err != nil || v.State != StateReady {
				t.Fatalf("after a delete whose index write %d failed: %+v, %v; want it ready", nth, v, err)
			}
			if _, err := f.r.Acquire(ctx, "v"); err != nil {
				t.Fatalf("mount after a delete whose index write %d failed: %v", nth, err)
			}
			f.r.Close()
			f = newFaultEnv(t, e) // a fresh process; the lease above is left to expire
			waitFor(t, "the abandoned lease never expired", func() bool {
				live, _, err := f.r.liveLeases(ctx, mustGet(t, f.r, "v").ID)
				return err == nil && len(live) == 0
			})
		}
		if err := f.r.Delete(ctx, "v"); err != nil {
			t.Fatalf("delete once the store works: %v", err)
		}
		if err := f.r.WaitPurges(ctx); err != nil {
			t.Fatal(err)
		}
		checkConsistent(t, e, f.r)
	})
}

func TestFaultsPurge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		f := newFaultEnv(t, e)
		v, _, err := f.r.Create(ctx, Spec{Name: "v"})
		if err != nil {
			t.Fatal(err)
		}
		putData(t, e.data, v.DataPrefix, 5)
		f.data.Add(faultstore.Rule{Op: faultstore.OpDeleteMany, Err: store.ErrUnavailable})
		if err := f.r.Delete(ctx, "v"); err != nil {
			t.Fatalf("delete (its purge is what fails): %v", err)
		}
		if err := f.r.WaitPurges(ctx); err != nil {
			t.Fatal(err)
		}
		info, err := f.r.Org(ctx)
		if err != nil || info.Purging != 1 || info.Used != 0 {
			t.Fatalf("after a failed purge: %+v, %v; want the name free and one volume still purging", info, err)
		}
		if _, err := f.r.Purge(ctx); !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), `purging the data of deleted volume "v"`) {
			t.Fatalf("purge while the store fails: %v", err)
		}
		f.data.Clear()
		if done, err := f.r.Purge(ctx); err != nil || len(done) != 1 {
			t.Fatalf("purge once the store works: %v, %v", done, err)
		}
		if keys := keysUnder(t, e.data, v.DataPrefix); len(keys) != 0 {
			t.Fatalf("keys left after the purge: %v", keys)
		}
		checkConsistent(t, e, f.r)
	})
}

func mustGet(t *testing.T, r *Registry, name string) Entry {
	t.Helper()
	v, err := r.Get(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

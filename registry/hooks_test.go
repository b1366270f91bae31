package registry

import (
	"sync/atomic"
	"testing"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
)

// Config.OnHeartbeat hears of every renewal: nil when it succeeded, the
// error when the store refused it (metrics count both, issue 15).
func TestOnHeartbeatReportsRenewals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		meta := faultstore.New(e.meta)
		var ok, failed atomic.Int64
		r := e.registry("h1", func(c *Config) {
			c.Meta = meta
			c.OnHeartbeat = func(err error) {
				if err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		})
		if _, _, err := r.Create(ctx, Spec{Name: "v"}); err != nil {
			t.Fatal(err)
		}
		l, err := r.Acquire(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release(ctx)
		waitFor(t, "no successful heartbeat reported", func() bool { return ok.Load() >= 1 })
		if failed.Load() != 0 {
			t.Fatalf("%d failed heartbeats reported with a healthy store", failed.Load())
		}
		meta.Add(faultstore.Rule{Op: faultstore.OpPut, Key: e.prefix + "orgs/acme/leases", Err: store.ErrUnavailable})
		waitFor(t, "no failed heartbeat reported while renewals fail", func() bool { return failed.Load() >= 1 })
	})
}

// Config.OnConflict hears of each compare-and-swap of the index that lost
// to another writer; the update is retried and succeeds.
func TestOnConflictReportsLostSwaps(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		meta := faultstore.New(e.meta)
		var conflicts atomic.Int64
		r := e.registry("h1", func(c *Config) {
			c.Meta = meta
			c.OnConflict = func() { conflicts.Add(1) }
		})
		meta.Add(faultstore.Rule{Op: faultstore.OpPut, Key: r.indexKey(), Nth: 1, Err: store.ErrPreconditionFailed})
		if _, _, err := r.Create(ctx, Spec{Name: "v"}); err != nil {
			t.Fatalf("create after one lost swap: %v", err)
		}
		if n := conflicts.Load(); n != 1 {
			t.Errorf("%d conflicts reported, want 1", n)
		}
	})
}

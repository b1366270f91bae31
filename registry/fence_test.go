package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
)

// Issue 13.6: a process that cannot renew its mount lease must stop
// writing before the lease can expire on other hosts (which may then delete
// the volume and purge its data), and write again once a renewal succeeds.
func TestFencedWhenLeaseCannotBeRenewed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		meta := faultstore.New(e.meta)
		r := e.registry("h1", func(c *Config) { c.Meta = meta })
		if _, _, err := r.Create(ctx, Spec{Name: "v"}); err != nil {
			t.Fatal(err)
		}
		l, err := r.Acquire(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release(ctx)
		data := l.Guard(e.data)
		put := func() error {
			_, err := data.Put(ctx, l.Entry().DataPrefix+"f", bytes.NewReader([]byte("x")), 1, store.PutOptions{})
			return err
		}
		if err := put(); err != nil {
			t.Fatalf("write with a fresh lease: %v", err)
		}

		// Renewals fail from now on. The lease object as other hosts see
		// it says when it expires.
		leases := e.prefix + "orgs/acme/leases"
		meta.Add(faultstore.Rule{Op: faultstore.OpPut, Key: leases, Err: store.ErrUnavailable})
		// A write accepted although it started at or after the expiry
		// other hosts see is the bug; when the first refusal is observed
		// depends on scheduling, so it is not what is checked.
		var lastAccepted time.Time
		waitFor(t, "writes never stopped while the lease could not be renewed", func() bool {
			started := time.Now()
			err := put()
			if err == nil {
				lastAccepted = started
				return false
			}
			if !errors.Is(err, ErrFenced) || !errors.Is(err, syscall.EROFS) {
				t.Fatalf("write while the lease is not renewed failed with %v, want ErrFenced (EROFS)", err)
			}
			t.Logf("write refused: %v", err)
			return true
		})
		if exp := storedExpiry(t, e, r, l.Entry().ID); !lastAccepted.Before(exp) {
			t.Fatalf("a write started at %s was accepted, not before the lease's expiry %s", lastAccepted, exp)
		}
		mp, err := data.NewMultipart(ctx, l.Entry().DataPrefix+"big", store.PutOptions{})
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("multipart upload while fenced: %v, %v", mp, err)
		}
		if err := data.Delete(ctx, l.Entry().DataPrefix+"f"); !errors.Is(err, ErrFenced) {
			t.Fatalf("delete while fenced: %v", err)
		}

		meta.Clear()
		waitFor(t, "writes never resumed once the lease was renewed", func() bool { return put() == nil })
	})
}

// storedExpiry reads the expiry of r's lease on id as other hosts see it.
func storedExpiry(t *testing.T, e *env, r *Registry, id string) time.Time {
	t.Helper()
	rc, _, err := e.meta.Get(ctxT(t), r.leaseKey(id), store.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	var l LeaseInfo
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	return l.ExpiresAt
}

// Issue 13.6: the data of a volume deleted once its holder's lease expired
// is purged no sooner than a TTL plus the fence margin after the delete, so
// a write the holder had in flight at its fence cannot land after the
// purge.
func TestPurgeWaitsAfterExpiredLease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		a, b := e.registry("host-a"), e.registry("host-b")
		v, _, err := a.Create(ctx, Spec{Name: "v"})
		if err != nil {
			t.Fatal(err)
		}
		putData(t, e.data, v.DataPrefix, 3)
		if _, err := a.Acquire(ctx, "v"); err != nil {
			t.Fatal(err)
		}
		a.Close() // host a dies holding the lease
		var deletedAt time.Time
		waitFor(t, "the delete never went through after the lease expired", func() bool {
			deletedAt = time.Now() // no later than the delete's own clock reading
			err := b.Delete(ctx, "v")
			if err != nil && !errors.Is(err, ErrInUse) {
				t.Fatal(err)
			}
			return err == nil
		})
		if _, err := b.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		if keys := keysUnder(t, e.data, v.DataPrefix); len(keys) == 0 {
			t.Fatal("the data was purged right after the delete that found an expired lease")
		}
		if err := b.WaitPurges(ctx); err != nil {
			t.Fatal(err)
		}
		purgedBy := time.Now()
		if keys := keysUnder(t, e.data, v.DataPrefix); len(keys) != 0 {
			t.Fatalf("after the background purge %d keys are left: %v", len(keys), keys)
		}
		if min := b.LeaseTTL() + fenceMargin(b.LeaseTTL()); purgedBy.Sub(deletedAt) < min {
			t.Fatalf("the data was purged %v after the delete, sooner than the TTL plus margin (%v)", purgedBy.Sub(deletedAt), min)
		}
		checkConsistent(t, e, b)
	})
}

// A process whose lease expired while it could not renew it, and whose
// volume another host deleted meanwhile, must not write again when its
// renewals succeed: the volume's data is being purged.
func TestFenceStaysClosedWhenDeletedMeanwhile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		meta := faultstore.New(e.meta)
		a := e.registry("host-a", func(c *Config) { c.Meta = meta })
		b := e.registry("host-b")
		if _, _, err := a.Create(ctx, Spec{Name: "v"}); err != nil {
			t.Fatal(err)
		}
		l, err := a.Acquire(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release(ctx)
		meta.Add(faultstore.Rule{Op: faultstore.OpPut, Key: e.prefix + "orgs/acme/leases", Err: store.ErrUnavailable})
		waitFor(t, "the delete never went through after the lease expired", func() bool {
			err := b.Delete(ctx, "v")
			if err != nil && !errors.Is(err, ErrInUse) {
				t.Fatal(err)
			}
			return err == nil
		})
		before := meta.Calls(faultstore.OpPut)
		meta.Clear()
		waitFor(t, "the heartbeat never tried again", func() bool { return meta.Calls(faultstore.OpPut) > before })
		waitFor(t, "the heartbeat's renewal never ended", func() bool {
			return l.hl.fence.isLost() || meta.Calls(faultstore.OpPut) > before+1
		})
		if err := l.Check(); !errors.Is(err, ErrFenced) {
			t.Fatalf("after renewing the lease of a volume deleted meanwhile, writes are allowed (%v)", err)
		}
	})
}

// The purge a delete put off (it found an expired lease) is not lost when
// the deleting process stops before it was due: the next process's repair
// pass, which runs at start-up and finds it not yet due, does it once it
// is due, instead of leaving the data until some later start.
func TestPutOffPurgeSurvivesRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		a, b := e.registry("host-a"), e.registry("host-b")
		v, _, err := a.Create(ctx, Spec{Name: "v"})
		if err != nil {
			t.Fatal(err)
		}
		putData(t, e.data, v.DataPrefix, 3)
		if _, err := a.Acquire(ctx, "v"); err != nil {
			t.Fatal(err)
		}
		a.Close() // host a dies holding the lease
		waitFor(t, "the delete never went through after the lease expired", func() bool {
			err := b.Delete(ctx, "v")
			if err != nil && !errors.Is(err, ErrInUse) {
				t.Fatal(err)
			}
			return err == nil
		})
		b.Close() // stopped before the put-off purge was due
		if keys := keysUnder(t, e.data, v.DataPrefix); len(keys) == 0 {
			t.Fatal("the data was purged right after the delete that found an expired lease")
		}

		restarted := e.registry("host-b")
		if _, err := restarted.Repair(ctx); err != nil {
			t.Fatal(err)
		}
		if err := restarted.WaitPurges(ctx); err != nil {
			t.Fatal(err)
		}
		if keys := keysUnder(t, e.data, v.DataPrefix); len(keys) != 0 {
			t.Fatalf("the put-off purge of the deleted volume never ran after a restart: %d keys left: %v", len(keys), keys)
		}
		checkConsistent(t, e, restarted)
	})
}

// A write that started just before the fence closed must not land after
// it: it runs on a context that ends when the fence closes. Here the store
// takes two TTLs to answer a write that starts while the lease is fresh
// and renewals have begun to fail.
func TestFenceEndsWritesInFlight(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		meta := faultstore.New(e.meta)
		r := e.registry("h1", func(c *Config) { c.Meta = meta })
		if _, _, err := r.Create(ctx, Spec{Name: "v"}); err != nil {
			t.Fatal(err)
		}
		l, err := r.Acquire(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release(ctx)
		slow := faultstore.New(e.data)
		slow.Add(faultstore.Rule{Op: faultstore.OpPut, Delay: 2 * r.cfg.LeaseTTL})
		data := l.Guard(slow)
		meta.Add(faultstore.Rule{Op: faultstore.OpPut, Key: e.prefix + "orgs/acme/leases", Err: store.ErrUnavailable})

		key := l.Entry().DataPrefix + "late"
		if _, err := data.Put(ctx, key, bytes.NewReader([]byte("x")), 1, store.PutOptions{}); err == nil {
			t.Fatal("a write still in flight when the fence closed succeeded")
		} else {
			t.Logf("write in flight at the fence: %v", err)
		}
		if _, err := e.data.Stat(ctx, key); !store.IsNotFound(err) {
			t.Fatalf("the write in flight at the fence landed: stat %v", err)
		}
	})
}

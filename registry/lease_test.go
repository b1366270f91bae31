package registry

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLeaseBlocksDelete: a delete is refused while another host holds a
// lease, naming it; allowed once the lease is released, or once it expires
// after the holder dies.
func TestLeaseBlocksDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		renewed := make(chan struct{}, 1)
		a := e.registry("host-a", func(c *Config) {
			c.OnHeartbeat = func(err error) {
				if err == nil {
					select {
					case renewed <- struct{}{}:
					default:
					}
				}
			}
		})
		b := e.registry("host-b")
		for _, n := range []string{"v1", "v2"} {
			if _, _, err := a.Create(ctx, Spec{Name: n}); err != nil {
				t.Fatal(err)
			}
		}
		l1, err := a.Acquire(ctx, "v1")
		if err != nil {
			t.Fatal(err)
		}
		l1b, err := a.Acquire(ctx, "v1") // a second mount on the same host
		if err != nil {
			t.Fatal(err)
		}
		err = b.Delete(ctx, "v1")
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), `host "host-a" (2 mount(s))`) {
			t.Fatalf("delete of a leased volume: %v", err)
		}
		if v, _ := b.Get(ctx, "v1"); v.State != StateReady {
			t.Fatalf("refused delete left state %s", v.State)
		}
		// The lease outlives its first expiry thanks to the heartbeat:
		// wait for a renewal made after that expiry was due.
		ls, err := a.Leases(ctx, "v1")
		if err != nil || len(ls) != 1 {
			t.Fatalf("leases of v1: %+v, %v", ls, err)
		}
		firstExpiry := ls[0].ExpiresAt
		giveUp := time.NewTimer(10 * a.LeaseTTL())
		defer giveUp.Stop()
		for renewedLate := false; !renewedLate; {
			select {
			case <-renewed:
			case <-giveUp.C:
				t.Fatalf("no heartbeat renewed the lease past its first expiry within %v", 10*a.LeaseTTL())
			}
			ls, err := a.Leases(ctx, "v1")
			if err != nil {
				t.Fatal(err)
			}
			renewedLate = len(ls) == 1 && ls[0].RenewedAt.After(firstExpiry)
		}
		if err := b.Delete(ctx, "v1"); !errors.Is(err, ErrInUse) {
			t.Fatalf("delete after the lease's first expiry, with heartbeats: %v", err)
		}
		if err := l1.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.Delete(ctx, "v1"); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "(1 mount(s))") {
			t.Fatalf("delete with one mount left: %v", err)
		}
		if err := l1b.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := l1b.Release(ctx); err != nil { // twice is harmless
			t.Fatal(err)
		}
		if err := b.Delete(ctx, "v1"); err != nil {
			t.Fatalf("delete after release: %v", err)
		}

		// Host a dies holding a lease on v2: its heartbeat stops, and once
		// the TTL has passed the delete goes through.
		if _, err := a.Acquire(ctx, "v2"); err != nil {
			t.Fatal(err)
		}
		if err := b.Delete(ctx, "v2"); !errors.Is(err, ErrInUse) {
			t.Fatalf("delete of v2 while leased: %v", err)
		}
		a.Close()
		deadline := time.Now().Add(5 * a.LeaseTTL())
		for {
			err := b.Delete(ctx, "v2")
			if err == nil {
				break
			}
			if !errors.Is(err, ErrInUse) || time.Now().After(deadline) {
				t.Fatalf("delete after the holder died: %v", err)
			}
			time.Sleep(a.LeaseTTL() / 4)
		}
		// The purge waits a TTL and a margin for writes a's mount had in
		// flight (issue 13.6).
		if err := b.WaitPurges(ctx); err != nil {
			t.Fatal(err)
		}
		checkConsistent(t, e, b)
	})
}

// TestAcquireDeleteRace: a mount and a delete of the same volume race on
// two hosts; they never both succeed.
func TestAcquireDeleteRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		a, b := e.registry("host-a"), e.registry("host-b")
		outcomes := map[string]int{}
		for i := range 20 {
			name := fmt.Sprintf("v%d", i)
			if _, _, err := a.Create(ctx, Spec{Name: name}); err != nil {
				t.Fatal(err)
			}
			var lease *Lease
			var acqErr, delErr error
			var wg sync.WaitGroup
			wg.Go(func() { lease, acqErr = a.Acquire(ctx, name) })
			wg.Go(func() { delErr = b.Delete(ctx, name) })
			wg.Wait()
			switch {
			case acqErr == nil && delErr == nil:
				t.Fatalf("%s: both the mount and the delete succeeded", name)
			case acqErr == nil:
				if !errors.Is(delErr, ErrInUse) && !errors.Is(delErr, ErrConflict) {
					t.Fatalf("%s: delete: %v", name, delErr)
				}
				outcomes["mounted"]++
				if err := lease.Release(ctx); err != nil {
					t.Fatal(err)
				}
			case delErr == nil:
				if !errors.Is(acqErr, ErrNotFound) && !errors.Is(acqErr, ErrConflict) {
					t.Fatalf("%s: acquire: %v", name, acqErr)
				}
				outcomes["deleted"]++
			default:
				outcomes["both refused"]++
			}
		}
		t.Logf("outcomes: %v", outcomes)
	})
}

// TestReleaseRacingAcquire: a mount released while another mount of the
// same entry on the same host is being acquired must not leave that new
// mount without a lease object (the release's DELETE landing after the
// acquire's PUT), or another host could delete a mounted volume.
func TestReleaseRacingAcquire(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		a := e.registry("host-a")
		if _, _, err := a.Create(ctx, Spec{Name: "v"}); err != nil {
			t.Fatal(err)
		}
		old, err := a.Acquire(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		id := old.Entry().ID
		type result struct {
			l   *Lease
			err error
		}
		acquired := make(chan result, 1)
		// Just before the last release deletes the lease object, a new
		// mount of the same entry starts; the hook returns once that
		// acquire has either finished or queued behind the release.
		a.hook = func(step string) bool {
			if step != stepLeaseDelete {
				return false
			}
			go func() {
				l, err := a.Acquire(ctx, "v")
				acquired <- result{l, err}
			}()
			for {
				a.leaseMu.Lock()
				hl := a.leases[id]
				queued := hl != nil && hl.refs > 1
				a.leaseMu.Unlock()
				if queued || len(acquired) > 0 {
					return false
				}
				time.Sleep(time.Millisecond)
			}
		}
		if err := old.Release(ctx); err != nil {
			t.Fatal(err)
		}
		res := <-acquired
		a.hook = nil
		if res.err != nil {
			t.Fatal(res.err)
		}
		ls, err := a.Leases(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != 1 || ls[0].Host != "host-a" {
			t.Fatalf("a mount is held but the stored leases are %+v", ls)
		}
		if err := res.l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAllLeases: every lease of the organization, by entry id, for one
// listing plus one read per lease, not a request per entry.
func TestAllLeases(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		a, b := e.registry("host-a"), e.registry("host-b")
		ids := map[string]string{}
		for i := range 20 {
			v, _, err := a.Create(ctx, Spec{Name: fmt.Sprintf("v%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			ids[v.Name] = v.ID
		}
		for _, l := range []struct {
			r    *Registry
			name string
		}{{a, "v1"}, {b, "v1"}, {b, "v7"}} {
			lease, err := l.r.Acquire(ctx, l.name)
			if err != nil {
				t.Fatal(err)
			}
			defer lease.Release(ctx)
		}
		before := e.meta.count()
		all, err := a.AllLeases(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cost := e.meta.count() - before; cost != 1+3 {
			t.Errorf("AllLeases cost %d requests; want 1 listing and 3 lease reads", cost)
		}
		hosts := func(ls []LeaseInfo) string {
			var h []string
			for _, l := range ls {
				h = append(h, l.Host)
			}
			return strings.Join(h, ",")
		}
		if len(all) != 2 || hosts(all[ids["v1"]]) != "host-a,host-b" || hosts(all[ids["v7"]]) != "host-b" {
			t.Fatalf("AllLeases = %+v", all)
		}
	})
}

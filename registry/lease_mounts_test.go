package registry

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Issue 13.16: two processes of one host (two `s3vol mount`, or a mount
// beside the daemon) share the host id. When one releases its lease, the
// other's mount must still hold the volume: no "Mounted on: -", no delete
// from another host.
func TestLeaseCountedPerMountNotPerHost(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		p1, p2 := e.registry("host-a"), e.registry("host-a") // two processes, one host
		other := e.registry("host-b")
		if _, _, err := p1.Create(ctx, Spec{Name: "v"}); err != nil {
			t.Fatal(err)
		}
		l1, err := p1.Acquire(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		l2, err := p2.Acquire(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		err = other.Delete(ctx, "v")
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), `host "host-a" (2 mount(s))`) {
			t.Fatalf("delete with two processes' mounts: %v, want in use by host-a (2 mount(s))", err)
		}
		if err := l1.Release(ctx); err != nil {
			t.Fatal(err)
		}
		ls, err := other.Leases(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != 1 || ls[0].Host != "host-a" || ls[0].Count != 1 {
			t.Fatalf("after one of two processes released, the leases are %+v, want host-a with 1 mount", ls)
		}
		if err := other.Delete(ctx, "v"); !errors.Is(err, ErrInUse) {
			t.Fatalf("delete while the second process still has it mounted: %v, want ErrInUse", err)
		}
		if err := l2.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := other.Delete(ctx, "v"); err != nil {
			t.Fatalf("delete once both released: %v", err)
		}
	})
}

// A process killed while mounting and started again with the same
// Instance (the daemon) takes over the lease it left: once its new mount
// ends, nothing blocks a delete until the old lease would have expired.
func TestRestartedInstanceTakesOverItsLease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		serve := func(c *Config) { c.Instance = "serve"; c.LeaseTTL = time.Minute }
		killed := e.registry("host-a", serve)
		if _, _, err := killed.Create(ctx, Spec{Name: "v"}); err != nil {
			t.Fatal(err)
		}
		if _, err := killed.Acquire(ctx, "v"); err != nil {
			t.Fatal(err)
		}
		killed.Close() // kill -9: the lease is left behind
		restarted := e.registry("host-a", serve)
		l, err := restarted.Acquire(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.registry("host-b").Delete(ctx, "v"); err != nil {
			t.Fatalf("delete after the restarted process released: %v", err)
		}
	})
}

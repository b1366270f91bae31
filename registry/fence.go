package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/s3vol/s3vol/store"
)

// Fencing. Another host may delete a volume once this process's lease on
// it has expired, and then purge its data. A process that cannot renew its
// lease must therefore stop writing before the lease can expire elsewhere:
// from the last successful renewal plus the TTL minus a margin (fenceMargin)
// its mounts' mutating store calls fail with ErrFenced (EROFS to the
// filesystem's callers), until a renewal succeeds again. The data purge of
// a delete that found an expired lease starts no sooner than a TTL plus the
// margin after the delete, for writes that were in flight at the fence.

// ErrFenced is the kind of the error a fenced mount's writes get.
var ErrFenced = errors.New("mount lease not renewed")

// purgeDelay is how long after a delete that found expired leases its
// purge may start: a TTL plus the fence margin.
func (r *Registry) purgeDelay() time.Duration {
	return r.cfg.LeaseTTL + fenceMargin(r.cfg.LeaseTTL)
}

// fenceMargin is how long before the lease expires (by this host's clock)
// the fence closes: a sixth of the TTL, so two heartbeats (every third of
// the TTL) may fail before it does.
func fenceMargin(ttl time.Duration) time.Duration { return ttl / 6 }

// fenceState is a hostLease's renewal record.
type fenceState struct {
	mu        sync.Mutex
	renewedAt time.Time // when the last successful write of the lease started
	lost      error     // the entry was deleted while the lease was expired: for good
	fenced    bool      // the fence is closed (for logging the transitions)
}

func (f *fenceState) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renewedAt, f.lost, f.fenced = time.Time{}, nil, false
}

func (f *fenceState) isLost() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lost != nil
}

func (f *fenceState) renewed(at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if at.After(f.renewedAt) {
		f.renewedAt = at
	}
}

// fencedError says why a write was refused. It matches ErrFenced and
// syscall.EROFS, which s3fs passes to the caller.
type fencedError struct{ msg string }

func (e *fencedError) Error() string   { return e.msg }
func (e *fencedError) Unwrap() []error { return []error{ErrFenced, syscall.EROFS} }

// checkFence returns the fenced error when writes must stop at now.
func (r *Registry) checkFence(hl *hostLease, now time.Time, what string) error {
	f := &hl.fence
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lost != nil {
		return f.lost
	}
	deadline := f.renewedAt.Add(r.cfg.LeaseTTL - fenceMargin(r.cfg.LeaseTTL))
	if now.Before(deadline) {
		return nil
	}
	return &fencedError{msg: fmt.Sprintf(
		"writes to %s refused: its mount lease has not been renewed since %s (the object store holding the registry is not answering), and another host may delete it once the lease expires; writes resume when the lease is renewed",
		what, f.renewedAt.Format(time.RFC3339))}
}

// Check reports whether the lease still allows writing: nil, or an error
// matching ErrFenced.
func (l *Lease) Check() error {
	return l.r.checkFence(l.hl, l.r.now(), fmt.Sprintf("%s %q", l.entry.Kind, l.entry.Name))
}

// Guard returns s with its mutating calls (Put, Copy, Delete, DeleteMany,
// NewMultipart and a multipart's UploadPart, CopyPart and Complete) refused
// while the lease is fenced. A mount's filesystem writes through it.
func (l *Lease) Guard(s store.Store) store.Store { return &guardedStore{Store: s, lease: l} }

type guardedStore struct {
	store.Store
	lease *Lease
}

func (g *guardedStore) String() string      { return g.Store.String() }
func (g *guardedStore) ListsMetadata() bool { return store.ListsMetadata(g.Store) }

func (g *guardedStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) (store.Object, error) {
	if err := g.lease.Check(); err != nil {
		return store.Object{}, err
	}
	return g.Store.Put(ctx, key, r, size, opts)
}

func (g *guardedStore) NewMultipart(ctx context.Context, key string, opts store.PutOptions) (store.Multipart, error) {
	if err := g.lease.Check(); err != nil {
		return nil, err
	}
	mp, err := g.Store.NewMultipart(ctx, key, opts)
	if err != nil {
		return nil, err
	}
	return &guardedMultipart{Multipart: mp, lease: g.lease}, nil
}

func (g *guardedStore) Copy(ctx context.Context, src, dst string, opts store.CopyOptions) (store.Object, error) {
	if err := g.lease.Check(); err != nil {
		return store.Object{}, err
	}
	return g.Store.Copy(ctx, src, dst, opts)
}

func (g *guardedStore) Delete(ctx context.Context, key string) error {
	if err := g.lease.Check(); err != nil {
		return err
	}
	return g.Store.Delete(ctx, key)
}

func (g *guardedStore) DeleteMany(ctx context.Context, keys []string) error {
	if err := g.lease.Check(); err != nil {
		return err
	}
	return g.Store.DeleteMany(ctx, keys)
}

type guardedMultipart struct {
	store.Multipart
	lease *Lease
}

func (m *guardedMultipart) UploadPart(ctx context.Context, n int, r io.Reader, size int64) error {
	if err := m.lease.Check(); err != nil {
		return err
	}
	return m.Multipart.UploadPart(ctx, n, r, size)
}

func (m *guardedMultipart) CopyPart(ctx context.Context, n int, src, srcETag string, offset, length int64) error {
	if err := m.lease.Check(); err != nil {
		return err
	}
	return m.Multipart.CopyPart(ctx, n, src, srcETag, offset, length)
}

func (m *guardedMultipart) Complete(ctx context.Context) (store.Object, error) {
	if err := m.lease.Check(); err != nil {
		return store.Object{}, err
	}
	return m.Multipart.Complete(ctx)
}

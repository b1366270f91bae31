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
// filesystem's callers), until a renewal succeeds again; writes in flight
// when the fence closes are ended then. The data purge of a delete that
// found an expired lease starts no sooner than a TTL plus the margin after
// the delete, for requests the store received before the fence and
// finishes later.

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
	if now.Before(r.fenceDeadlineLocked(f)) {
		return nil
	}
	return &fencedError{msg: fmt.Sprintf(
		"writes to %s refused: its mount lease has not been renewed since %s (the object store holding the registry is not answering), and another host may delete it once the lease expires; writes resume when the lease is renewed",
		what, f.renewedAt.Format(time.RFC3339))}
}

// fenceDeadlineLocked is when the fence closes unless a renewal comes
// first. f.mu is held.
func (r *Registry) fenceDeadlineLocked(f *fenceState) time.Time {
	return f.renewedAt.Add(r.cfg.LeaseTTL - fenceMargin(r.cfg.LeaseTTL))
}

// Check reports whether the lease still allows writing: nil, or an error
// matching ErrFenced.
func (l *Lease) Check() error {
	return l.r.checkFence(l.hl, l.r.now(), fmt.Sprintf("%s %q", l.entry.Kind, l.entry.Name))
}

// untilFence is how long writes may go on unless a renewal comes first.
func (l *Lease) untilFence() time.Duration {
	f := &l.hl.fence
	f.mu.Lock()
	defer f.mu.Unlock()
	return l.r.fenceDeadlineLocked(f).Sub(l.r.now())
}

// fenceWatch ends a write's context when the fence closes while the write
// runs: checking the fence only when a write starts would let one that
// started just before it land long after (a slow upload, a big copy).
type fenceWatch struct {
	lease  *Lease
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	timer  *time.Timer
	done   bool
}

// arm sets the timer to the fence's current deadline; when it fires, a
// renewal that came meanwhile re-arms it, else the write's context ends
// with the fence's error.
func (w *fenceWatch) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.timer = time.AfterFunc(w.lease.untilFence(), func() {
		if err := w.lease.Check(); err != nil {
			w.cancel(err)
			return
		}
		w.arm()
	})
}

func (w *fenceWatch) stop() {
	w.mu.Lock()
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	w.cancel(nil)
}

// fencedWrite runs write if the lease allows writing, on a context that
// the fence ends (see fenceWatch); a write ended by the fence reports the
// fence's error (ErrFenced, EROFS).
func fencedWrite[T any](ctx context.Context, l *Lease, write func(context.Context) (T, error)) (T, error) {
	var zero T
	if err := l.Check(); err != nil {
		return zero, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	w := &fenceWatch{lease: l, cancel: cancel}
	w.arm()
	defer w.stop()
	v, err := write(ctx)
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrFenced) {
			return zero, fmt.Errorf("%w (the write was in flight when the fence closed)", cause)
		}
	}
	return v, err
}

// fencedWriteErr is fencedWrite for writes that return only an error.
func fencedWriteErr(ctx context.Context, l *Lease, write func(context.Context) error) error {
	_, err := fencedWrite(ctx, l, func(ctx context.Context) (struct{}, error) { return struct{}{}, write(ctx) })
	return err
}

// Guard returns s with its mutating calls (Put, Copy, Delete, DeleteMany,
// NewMultipart and a multipart's UploadPart, CopyPart and Complete) refused
// while the lease is fenced, and ended when the fence closes while they
// run. A mount's filesystem writes through it.
func (l *Lease) Guard(s store.Store) store.Store { return &guardedStore{Store: s, lease: l} }

type guardedStore struct {
	store.Store
	lease *Lease
}

func (g *guardedStore) String() string { return g.Store.String() }

func (g *guardedStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) (store.Object, error) {
	return fencedWrite(ctx, g.lease, func(ctx context.Context) (store.Object, error) {
		return g.Store.Put(ctx, key, r, size, opts)
	})
}

func (g *guardedStore) NewMultipart(ctx context.Context, key string, opts store.PutOptions) (store.Multipart, error) {
	mp, err := fencedWrite(ctx, g.lease, func(ctx context.Context) (store.Multipart, error) {
		return g.Store.NewMultipart(ctx, key, opts)
	})
	if err != nil {
		return nil, err
	}
	return &guardedMultipart{Multipart: mp, lease: g.lease}, nil
}

func (g *guardedStore) Copy(ctx context.Context, src, dst string, opts store.CopyOptions) (store.Object, error) {
	return fencedWrite(ctx, g.lease, func(ctx context.Context) (store.Object, error) {
		return g.Store.Copy(ctx, src, dst, opts)
	})
}

func (g *guardedStore) Delete(ctx context.Context, key string) error {
	return fencedWriteErr(ctx, g.lease, func(ctx context.Context) error { return g.Store.Delete(ctx, key) })
}

func (g *guardedStore) DeleteMany(ctx context.Context, keys []string) error {
	return fencedWriteErr(ctx, g.lease, func(ctx context.Context) error { return g.Store.DeleteMany(ctx, keys) })
}

type guardedMultipart struct {
	store.Multipart
	lease *Lease
}

func (m *guardedMultipart) UploadPart(ctx context.Context, n int, r io.Reader, size int64) error {
	return fencedWriteErr(ctx, m.lease, func(ctx context.Context) error { return m.Multipart.UploadPart(ctx, n, r, size) })
}

func (m *guardedMultipart) CopyPart(ctx context.Context, n int, src, srcETag string, offset, length int64) error {
	return fencedWriteErr(ctx, m.lease, func(ctx context.Context) error {
		return m.Multipart.CopyPart(ctx, n, src, srcETag, offset, length)
	})
}

func (m *guardedMultipart) Complete(ctx context.Context) (store.Object, error) {
	return fencedWrite(ctx, m.lease, m.Multipart.Complete)
}

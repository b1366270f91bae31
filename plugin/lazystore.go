package main

import (
	"context"
	"errors"
	"io"
	"iter"
	"sync"
	"time"

	"github.com/s3vol/s3vol/store"
)

// lazyStore is a store.Store that is not connected yet. The daemon must
// listen on its socket before it reaches the store (Docker gives a plugin
// about ten seconds), and must keep serving while the store is down at
// start-up; until connect succeeds every call fails with the reason the
// last connection attempt failed (a *store.ConnectError), and wakes the
// connection loop so that a store fixed meanwhile is used at once.
type lazyStore struct {
	name string
	wake chan<- struct{} // asks the connection loop to try again now

	mu       sync.RWMutex
	s        store.Store
	lastErr  error
	attempts chan struct{} // closed when the connection attempt under way ends
}

func newLazyStore(name string, wake chan<- struct{}) *lazyStore {
	return &lazyStore{name: name, wake: wake, attempts: make(chan struct{}),
		lastErr: store.NewError("connect", "", store.ErrUnavailable, errors.New("still connecting"))}
}

func (l *lazyStore) set(s store.Store) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.s = s
	close(l.attempts)
}

func (l *lazyStore) failed(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastErr = err
	close(l.attempts)
	l.attempts = make(chan struct{})
}

// reconnectWait bounds how long a call waits for the connection attempt
// it asked for: long enough for an answer from a store that answers (a
// refusal, a missing bucket), short enough for /healthz (2 s) to report
// the cause of a store that hangs.
const reconnectWait = time.Second

// get returns the connected store, or the error to return for op on key.
// Not connected, it asks for a new attempt and waits (briefly) for the
// one under way to end, so that the first call after the operator fixed
// the store (made the bucket, started the server) succeeds. The error
// keeps the kind of the failure (access denied, no bucket, unavailable),
// and carries the cause as a *store.ConnectError.
func (l *lazyStore) get(ctx context.Context, op, key string) (store.Store, error) {
	l.mu.RLock()
	s, attempts := l.s, l.attempts
	l.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	select {
	case l.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
	timer := time.NewTimer(reconnectWait)
	defer timer.Stop()
	select {
	case <-attempts:
	case <-timer.C:
	case <-ctx.Done():
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s != nil {
		return l.s, nil
	}
	kind := store.ErrUnavailable
	if k := kindOf(l.lastErr); k == store.ErrAccessDenied || k == store.ErrNoBucket {
		kind = k
	}
	return nil, store.NewError(op, key, kind, &store.ConnectError{Store: l.name, Err: l.lastErr})
}

func kindOf(err error) error {
	for _, k := range []error{store.ErrAccessDenied, store.ErrNoBucket, store.ErrNotFound, store.ErrUnavailable, store.ErrInvalidArgument} {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

func (l *lazyStore) String() string { return l.name }

func (l *lazyStore) Stat(ctx context.Context, key string) (store.Object, error) {
	s, err := l.get(ctx, "stat", key)
	if err != nil {
		return store.Object{}, err
	}
	return s.Stat(ctx, key)
}

func (l *lazyStore) Get(ctx context.Context, key string, opts store.GetOptions) (io.ReadCloser, store.Object, error) {
	s, err := l.get(ctx, "get", key)
	if err != nil {
		return nil, store.Object{}, err
	}
	return s.Get(ctx, key, opts)
}

func (l *lazyStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) (store.Object, error) {
	s, err := l.get(ctx, "put", key)
	if err != nil {
		return store.Object{}, err
	}
	return s.Put(ctx, key, r, size, opts)
}

func (l *lazyStore) NewMultipart(ctx context.Context, key string, opts store.PutOptions) (store.Multipart, error) {
	s, err := l.get(ctx, "multipart", key)
	if err != nil {
		return nil, err
	}
	return s.NewMultipart(ctx, key, opts)
}

func (l *lazyStore) Copy(ctx context.Context, src, dst string, opts store.CopyOptions) (store.Object, error) {
	s, err := l.get(ctx, "copy", src)
	if err != nil {
		return store.Object{}, err
	}
	return s.Copy(ctx, src, dst, opts)
}

func (l *lazyStore) List(ctx context.Context, opts store.ListOptions) iter.Seq2[store.Object, error] {
	s, err := l.get(ctx, "list", opts.Prefix)
	if err != nil {
		return func(yield func(store.Object, error) bool) { yield(store.Object{}, err) }
	}
	return s.List(ctx, opts)
}

func (l *lazyStore) Delete(ctx context.Context, key string) error {
	s, err := l.get(ctx, "delete", key)
	if err != nil {
		return err
	}
	return s.Delete(ctx, key)
}

func (l *lazyStore) DeleteMany(ctx context.Context, keys []string) error {
	s, err := l.get(ctx, "delete", "")
	if err != nil {
		return err
	}
	return s.DeleteMany(ctx, keys)
}

// AbortUpload forwards to the connected store (store.UploadAborter).
func (l *lazyStore) AbortUpload(ctx context.Context, key, uploadID string) error {
	s, err := l.get(ctx, "abort-upload", key)
	if err != nil {
		return err
	}
	return store.AbortUpload(ctx, s, key, uploadID)
}

func (l *lazyStore) AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error) {
	s, err := l.get(ctx, "abort-uploads", prefix)
	if err != nil {
		return 0, err
	}
	return s.AbortStaleUploads(ctx, prefix, olderThan)
}

var _ store.Store = (*lazyStore)(nil)

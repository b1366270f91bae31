package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"
	"time"

	"github.com/s3vol/s3vol/store"
)

// lazyStore is a store.Store that is not connected yet. The daemon must
// listen on its socket before it reaches the store (Docker gives a plugin
// about ten seconds), and must keep serving while the store is down at
// start-up; until connect succeeds every call fails with ErrUnavailable
// and the reason the connection failed.
type lazyStore struct {
	name string

	tried     chan struct{} // closed when the first connection attempt has ended
	triedOnce sync.Once

	mu      sync.RWMutex
	s       store.Store
	lastErr error
}

func newLazyStore(name string) *lazyStore {
	return &lazyStore{name: name, tried: make(chan struct{}), lastErr: fmt.Errorf("still connecting")}
}

func (l *lazyStore) set(s store.Store) {
	l.mu.Lock()
	l.s = s
	l.mu.Unlock()
	l.triedOnce.Do(func() { close(l.tried) })
}

func (l *lazyStore) failed(err error) {
	l.mu.Lock()
	l.lastErr = err
	l.mu.Unlock()
	l.triedOnce.Do(func() { close(l.tried) })
}

// get returns the connected store, or the error to return for op on key.
// A call made while the first connection attempt is under way waits for it
// (bounded by ctx), so the daemon's first calls do not fail needlessly. A
// connection refused for bad credentials or a missing bucket keeps that
// kind, so messages say what to fix.
func (l *lazyStore) get(ctx context.Context, op, key string) (store.Store, error) {
	select {
	case <-l.tried:
	case <-ctx.Done():
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s != nil {
		return l.s, nil
	}
	kind := store.ErrUnavailable
	if kindOf(l.lastErr) == store.ErrAccessDenied {
		kind = store.ErrAccessDenied
	}
	return nil, store.NewError(op, key, kind, fmt.Errorf("not connected to %s: %w", l.name, l.lastErr))
}

func kindOf(err error) error {
	for _, k := range []error{store.ErrAccessDenied, store.ErrNotFound, store.ErrUnavailable, store.ErrInvalidArgument} {
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

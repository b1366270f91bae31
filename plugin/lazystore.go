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

	mu      sync.RWMutex
	s       store.Store
	lastErr error
}

func newLazyStore(name string) *lazyStore {
	return &lazyStore{name: name, lastErr: fmt.Errorf("still connecting")}
}

func (l *lazyStore) set(s store.Store) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.s = s
}

func (l *lazyStore) failed(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastErr = err
}

// get returns the connected store, or the error to return for op on key.
// A connection refused for bad credentials or a missing bucket keeps that
// kind, so messages say what to fix.
func (l *lazyStore) get(op, key string) (store.Store, error) {
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
	s, err := l.get("stat", key)
	if err != nil {
		return store.Object{}, err
	}
	return s.Stat(ctx, key)
}

func (l *lazyStore) Get(ctx context.Context, key string, opts store.GetOptions) (io.ReadCloser, store.Object, error) {
	s, err := l.get("get", key)
	if err != nil {
		return nil, store.Object{}, err
	}
	return s.Get(ctx, key, opts)
}

func (l *lazyStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) (store.Object, error) {
	s, err := l.get("put", key)
	if err != nil {
		return store.Object{}, err
	}
	return s.Put(ctx, key, r, size, opts)
}

func (l *lazyStore) NewMultipart(ctx context.Context, key string, opts store.PutOptions) (store.Multipart, error) {
	s, err := l.get("multipart", key)
	if err != nil {
		return nil, err
	}
	return s.NewMultipart(ctx, key, opts)
}

func (l *lazyStore) Copy(ctx context.Context, src, dst string, opts store.CopyOptions) (store.Object, error) {
	s, err := l.get("copy", src)
	if err != nil {
		return store.Object{}, err
	}
	return s.Copy(ctx, src, dst, opts)
}

func (l *lazyStore) List(ctx context.Context, opts store.ListOptions) iter.Seq2[store.Object, error] {
	s, err := l.get("list", opts.Prefix)
	if err != nil {
		return func(yield func(store.Object, error) bool) { yield(store.Object{}, err) }
	}
	return s.List(ctx, opts)
}

func (l *lazyStore) Delete(ctx context.Context, key string) error {
	s, err := l.get("delete", key)
	if err != nil {
		return err
	}
	return s.Delete(ctx, key)
}

func (l *lazyStore) DeleteMany(ctx context.Context, keys []string) error {
	s, err := l.get("delete", "")
	if err != nil {
		return err
	}
	return s.DeleteMany(ctx, keys)
}

func (l *lazyStore) AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error) {
	s, err := l.get("abort-uploads", prefix)
	if err != nil {
		return 0, err
	}
	return s.AbortStaleUploads(ctx, prefix, olderThan)
}

var _ store.Store = (*lazyStore)(nil)

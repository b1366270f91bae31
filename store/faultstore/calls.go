package faultstore

import (
	"context"
	"io"
	"iter"
	"time"

	"github.com/s3vol/s3vol/store"
)

func (s *Store) Stat(ctx context.Context, key string) (store.Object, error) {
	f := s.decide(OpStat, key)
	if err := f.before(ctx); err != nil {
		return store.Object{}, err
	}
	obj, err := s.inner.Stat(ctx, key)
	if ferr := f.after(ctx); ferr != nil {
		return store.Object{}, ferr
	}
	return obj, err
}

// Get fails the call itself on an OpGet rule; an OpRead rule wraps the body
// so that reading it fails part-way.
func (s *Store) Get(ctx context.Context, key string, opts store.GetOptions) (io.ReadCloser, store.Object, error) {
	f := s.decide(OpGet, key)
	if err := f.before(ctx); err != nil {
		return nil, store.Object{}, err
	}
	body, obj, err := s.inner.Get(ctx, key, opts)
	if ferr := f.after(ctx); ferr != nil {
		if err == nil {
			body.Close()
		}
		return nil, store.Object{}, ferr
	}
	if err != nil {
		return body, obj, err
	}
	if rf := s.decide(OpRead, key); rf != nil {
		body = &faultyBody{ReadCloser: body, ctx: ctx, f: rf, left: rf.AfterBytes}
	}
	return body, obj, nil
}

func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) (store.Object, error) {
	f := s.decide(OpPut, key)
	if err := f.before(ctx); err != nil {
		return store.Object{}, err
	}
	obj, err := s.inner.Put(ctx, key, r, size, opts)
	if ferr := f.after(ctx); ferr != nil {
		return store.Object{}, ferr
	}
	return obj, err
}

func (s *Store) NewMultipart(ctx context.Context, key string, opts store.PutOptions) (store.Multipart, error) {
	f := s.decide(OpNewMultipart, key)
	if err := f.before(ctx); err != nil {
		return nil, err
	}
	mp, err := s.inner.NewMultipart(ctx, key, opts)
	if ferr := f.after(ctx); ferr != nil {
		// The upload exists on the store and nobody holds it: the
		// lost reply leaves it unfinished, as a real one would.
		return nil, ferr
	}
	if err != nil {
		return nil, err
	}
	return &multipart{inner: mp, s: s, key: key}, nil
}

func (s *Store) Copy(ctx context.Context, src, dst string, opts store.CopyOptions) (store.Object, error) {
	f := s.decide(OpCopy, dst, src)
	if err := f.before(ctx); err != nil {
		return store.Object{}, err
	}
	obj, err := s.inner.Copy(ctx, src, dst, opts)
	if ferr := f.after(ctx); ferr != nil {
		return store.Object{}, ferr
	}
	return obj, err
}

// List yields an OpList fault as the iterator's error, after AfterBytes
// objects (or at the end of a shorter listing).
func (s *Store) List(ctx context.Context, opts store.ListOptions) iter.Seq2[store.Object, error] {
	return func(yield func(store.Object, error) bool) {
		f := s.decide(OpList, opts.Prefix)
		if f != nil && f.AfterCall {
			f.AfterBytes = -1 // after the whole listing
		}
		if f != nil && f.AfterBytes == 0 {
			// Before the first page: the wrapped store sees no call.
			ferr := f.inject(ctx)
			f = nil
			if ferr != nil {
				yield(store.Object{}, ferr)
				return
			}
		}
		var n int64
		for obj, err := range s.inner.List(ctx, opts) {
			if f != nil && n == f.AfterBytes {
				ferr := f.inject(ctx)
				f = nil
				if ferr != nil {
					yield(store.Object{}, ferr)
					return
				}
			}
			if !yield(obj, err) || err != nil {
				return
			}
			n++
		}
		if f != nil {
			if ferr := f.inject(ctx); ferr != nil {
				yield(store.Object{}, ferr)
			}
		}
	}
}

func (s *Store) Delete(ctx context.Context, key string) error {
	f := s.decide(OpDelete, key)
	if err := f.before(ctx); err != nil {
		return err
	}
	err := s.inner.Delete(ctx, key)
	if ferr := f.after(ctx); ferr != nil {
		return ferr
	}
	return err
}

func (s *Store) DeleteMany(ctx context.Context, keys []string) error {
	f := s.decide(OpDeleteMany, keys...)
	if err := f.before(ctx); err != nil {
		return err
	}
	err := s.inner.DeleteMany(ctx, keys)
	if ferr := f.after(ctx); ferr != nil {
		return ferr
	}
	return err
}

func (s *Store) AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error) {
	f := s.decide(OpAbortStale, prefix)
	if err := f.before(ctx); err != nil {
		return 0, err
	}
	n, err := s.inner.AbortStaleUploads(ctx, prefix, olderThan)
	if ferr := f.after(ctx); ferr != nil {
		return 0, ferr
	}
	return n, err
}

// multipart wraps an upload of the wrapped store.
type multipart struct {
	inner store.Multipart
	s     *Store
	key   string
}

func (m *multipart) UploadPart(ctx context.Context, n int, r io.Reader, size int64) error {
	f := m.s.decide(OpUploadPart, m.key)
	if err := f.before(ctx); err != nil {
		return err
	}
	err := m.inner.UploadPart(ctx, n, r, size)
	if ferr := f.after(ctx); ferr != nil {
		return ferr
	}
	return err
}

func (m *multipart) CopyPart(ctx context.Context, n int, src, srcETag string, offset, length int64) error {
	f := m.s.decide(OpCopyPart, m.key, src)
	if err := f.before(ctx); err != nil {
		return err
	}
	err := m.inner.CopyPart(ctx, n, src, srcETag, offset, length)
	if ferr := f.after(ctx); ferr != nil {
		return ferr
	}
	return err
}

func (m *multipart) Complete(ctx context.Context) (store.Object, error) {
	f := m.s.decide(OpComplete, m.key)
	if err := f.before(ctx); err != nil {
		return store.Object{}, err
	}
	obj, err := m.inner.Complete(ctx)
	if ferr := f.after(ctx); ferr != nil {
		return store.Object{}, ferr
	}
	return obj, err
}

func (m *multipart) Abort(ctx context.Context) error {
	f := m.s.decide(OpAbort, m.key)
	if err := f.before(ctx); err != nil {
		return err
	}
	err := m.inner.Abort(ctx)
	if ferr := f.after(ctx); ferr != nil {
		return ferr
	}
	return err
}

// faultyBody is a Get body that an OpRead fault cuts off after left more
// bytes (or at its end, when that comes first).
type faultyBody struct {
	io.ReadCloser
	ctx  context.Context
	f    *fault // nil once injected
	left int64
	err  error // the injected failure, repeated on every later Read
}

func (b *faultyBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.f == nil {
		return b.ReadCloser.Read(p)
	}
	if b.left <= 0 {
		if err := b.fire(); err != nil {
			return 0, err
		}
		return b.ReadCloser.Read(p)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if err == io.EOF {
		// The body ended before the fault's point: it fails at its end.
		if ferr := b.fire(); ferr != nil {
			return n, ferr
		}
	}
	return n, err
}

// fire injects the fault and returns its failure, which every later Read
// repeats; nil for a delay-only fault, after which reading goes on.
func (b *faultyBody) fire() error {
	f := b.f
	b.f = nil
	b.err = f.inject(b.ctx)
	return b.err
}

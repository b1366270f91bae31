package s3fs

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

// A store that hangs (a server stopped, a network path that drops packets
// without a reset) must not hang the system calls waiting on it. Every store
// call the filesystem makes goes through boundedStore, which ends the call
// when it makes no progress for Options.OpTimeout: no answer, no byte of a
// body read or sent, no listed key. The caller then gets a store error
// (EIO), within OpTimeout of the store's last sign of life, whatever the
// backend's own timeouts are. Progress, not duration, is bounded, so big
// transfers and long listings keep going while data moves; a server-side
// copy, which moves no data the client could see, gets OpTimeout plus the
// time the slowest store we wait for takes to copy its bytes.

// errNoProgress is the cause of a store call ended by its watchdog.
var errNoProgress = errors.New("the store made no progress")

// copyRate is the slowest server-side copy speed waited for (bytes per
// second), as in the S3 backend.
const copyRate = 10 << 20

// deleteRate is the slowest bulk-delete speed waited for (keys per second):
// a loaded MinIO took over 10 s for a batch of 1000.
const deleteRate = 100

type boundedStore struct {
	store.Store
	timeout time.Duration
}

// copySizeKey carries the size of the object a Copy copies, which sets its
// allowance.
type copySizeKey struct{}

// withCopySize tells the Copy made with ctx how big its source is.
func withCopySize(ctx context.Context, size int64) context.Context {
	return context.WithValue(ctx, copySizeKey{}, size)
}

// copyAllowance is how long a server-side copy of size bytes may take.
func (b *boundedStore) copyAllowance(size int64) time.Duration {
	return b.timeout + time.Duration(size/copyRate)*time.Second
}

// progress cancels its context once it has not been kicked for its
// duration; paused, it waits for the next kick.
type progress struct {
	mu     sync.Mutex
	d      time.Duration
	timer  *time.Timer
	cancel context.CancelCauseFunc
}

func (b *boundedStore) watch(ctx context.Context, d time.Duration, op, key string) (context.Context, *progress) {
	ctx, cancel := context.WithCancelCause(ctx)
	p := &progress{d: d, cancel: cancel}
	p.timer = time.AfterFunc(d, func() {
		cancel(fmt.Errorf("%s %q: %w for %v", op, key, errNoProgress, d))
	})
	return ctx, p
}

// kick restarts the countdown.
func (p *progress) kick() {
	p.mu.Lock()
	p.timer.Reset(p.d)
	p.mu.Unlock()
}

// pause stops the countdown until the next kick: time spent by the caller
// between two reads is not the store's.
func (p *progress) pause() {
	p.mu.Lock()
	p.timer.Stop()
	p.mu.Unlock()
}

// stop ends the watch and releases its context.
func (p *progress) stop() {
	p.pause()
	p.cancel(context.Canceled)
}

// bounded runs one call that moves nothing the client sees under a watch
// of d, and names a call its watch ended.
func bounded[T any](b *boundedStore, ctx context.Context, d time.Duration, op, key string, fn func(context.Context) (T, error)) (T, error) {
	wctx, p := b.watch(ctx, d, op, key)
	defer p.stop()
	v, err := fn(wctx)
	return v, timedOut(wctx, err)
}

// timedOut makes the error of a call its watch ended say so, as a store
// error of kind ErrUnavailable (EIO).
func timedOut(wctx context.Context, err error) error {
	if err == nil || !errors.Is(context.Cause(wctx), errNoProgress) {
		return err
	}
	return store.NewError("watch", "", store.ErrUnavailable, fmt.Errorf("%w (%v)", context.Cause(wctx), err))
}

func (b *boundedStore) Stat(ctx context.Context, key string) (store.Object, error) {
	return bounded(b, ctx, b.timeout, "stat", key, func(ctx context.Context) (store.Object, error) {
		return b.Store.Stat(ctx, key)
	})
}

func (b *boundedStore) Delete(ctx context.Context, key string) error {
	_, err := bounded(b, ctx, b.timeout, "delete", key, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.Store.Delete(ctx, key)
	})
	return err
}

// DeleteMany sends a request per 1000 keys, which the store answers only
// once it has deleted them all: like a copy, it moves nothing the client
// could watch, so each request gets the timeout plus the time its keys take
// at the slowest delete rate waited for.
func (b *boundedStore) DeleteMany(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return b.Store.DeleteMany(ctx, keys)
	}
	batches := time.Duration((len(keys) + 999) / 1000)
	allowance := batches*b.timeout + time.Duration(len(keys))*time.Second/deleteRate
	_, err := bounded(b, ctx, allowance, "delete", keys[0], func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.Store.DeleteMany(ctx, keys)
	})
	return err
}

// Copy is allowed the time its size needs, asked of the store first when
// the caller did not say (withCopySize).
func (b *boundedStore) Copy(ctx context.Context, src, dst string, opts store.CopyOptions) (store.Object, error) {
	size, ok := ctx.Value(copySizeKey{}).(int64)
	if !ok {
		obj, err := b.Stat(ctx, src)
		if err != nil {
			return store.Object{}, err
		}
		size = obj.Size
	}
	return bounded(b, ctx, b.copyAllowance(size), "copy", src, func(ctx context.Context) (store.Object, error) {
		return b.Store.Copy(ctx, src, dst, opts)
	})
}

// Put is bounded by its reads of r: the store takes the body as it sends
// it, so a store that stops answering stops the reads.
func (b *boundedStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) (store.Object, error) {
	wctx, p := b.watch(ctx, b.timeout, "put", key)
	defer p.stop()
	obj, err := b.Store.Put(wctx, key, &kickingReader{r: r, p: p}, size, opts)
	return obj, timedOut(wctx, err)
}

// Get is bounded until it answers, then by each Read of its body; the
// body's Close ends the watch.
func (b *boundedStore) Get(ctx context.Context, key string, opts store.GetOptions) (io.ReadCloser, store.Object, error) {
	wctx, p := b.watch(ctx, b.timeout, "get", key)
	body, obj, err := b.Store.Get(wctx, key, opts)
	if err != nil {
		p.stop()
		return nil, obj, timedOut(wctx, err)
	}
	p.pause()
	return &boundedBody{body: body, ctx: wctx, p: p}, obj, nil
}

// List is bounded by the keys it yields; the caller's time with each key
// does not count.
func (b *boundedStore) List(ctx context.Context, opts store.ListOptions) iter.Seq2[store.Object, error] {
	return func(yield func(store.Object, error) bool) {
		wctx, p := b.watch(ctx, b.timeout, "list", opts.Prefix)
		defer p.stop()
		for obj, err := range b.Store.List(wctx, opts) {
			p.pause()
			if !yield(obj, timedOut(wctx, err)) {
				return
			}
			p.kick()
		}
	}
}

func (b *boundedStore) NewMultipart(ctx context.Context, key string, opts store.PutOptions) (store.Multipart, error) {
	mp, err := bounded(b, ctx, b.timeout, "multipart", key, func(ctx context.Context) (store.Multipart, error) {
		return b.Store.NewMultipart(ctx, key, opts)
	})
	if err != nil {
		return nil, err
	}
	return &boundedMultipart{mp: mp, b: b, key: key}, nil
}

func (b *boundedStore) AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error) {
	return bounded(b, ctx, b.timeout, "abort stale uploads", prefix, func(ctx context.Context) (int, error) {
		return b.Store.AbortStaleUploads(ctx, prefix, olderThan)
	})
}

// boundedMultipart bounds each call of an upload; Complete gets time for
// the store to assemble the bytes it holds.
type boundedMultipart struct {
	mp  store.Multipart
	b   *boundedStore
	key string

	mu    sync.Mutex
	bytes int64 // the size of the parts so far
}

func (m *boundedMultipart) added(n int64) {
	m.mu.Lock()
	m.bytes += n
	m.mu.Unlock()
}

func (m *boundedMultipart) UploadPart(ctx context.Context, n int, r io.Reader, size int64) error {
	wctx, p := m.b.watch(ctx, m.b.timeout, "upload part", m.key)
	defer p.stop()
	err := m.mp.UploadPart(wctx, n, &kickingReader{r: r, p: p}, size)
	if err == nil {
		m.added(size)
	}
	return timedOut(wctx, err)
}

func (m *boundedMultipart) CopyPart(ctx context.Context, n int, src, srcETag string, offset, length int64) error {
	_, err := bounded(m.b, ctx, m.b.copyAllowance(length), "copy part", m.key, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, m.mp.CopyPart(ctx, n, src, srcETag, offset, length)
	})
	if err == nil {
		m.added(length)
	}
	return err
}

func (m *boundedMultipart) Complete(ctx context.Context) (store.Object, error) {
	m.mu.Lock()
	size := m.bytes
	m.mu.Unlock()
	return bounded(m.b, ctx, m.b.copyAllowance(size), "complete", m.key, m.mp.Complete)
}

func (m *boundedMultipart) Abort(ctx context.Context) error {
	_, err := bounded(m.b, ctx, m.b.timeout, "abort", m.key, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, m.mp.Abort(ctx)
	})
	return err
}

// kickingReader counts each read of an upload's body as progress.
type kickingReader struct {
	r io.Reader
	p *progress
}

func (k *kickingReader) Read(b []byte) (int, error) {
	n, err := k.r.Read(b)
	if n > 0 {
		k.p.kick()
	}
	return n, err
}

// boundedBody is a Get's body under watch: each Read must make progress
// within the timeout.
type boundedBody struct {
	body io.ReadCloser
	ctx  context.Context
	p    *progress
	once sync.Once
}

func (g *boundedBody) Read(b []byte) (int, error) {
	g.p.kick()
	n, err := g.body.Read(b)
	g.p.pause()
	if err != nil && err != io.EOF {
		err = timedOut(g.ctx, err)
	}
	return n, err
}

func (g *boundedBody) Close() error {
	err := g.body.Close()
	g.once.Do(g.p.stop)
	return err
}

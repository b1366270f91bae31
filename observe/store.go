package observe

import (
	"context"
	"errors"
	"io"
	"iter"
	"sync"
	"time"

	"github.com/s3vol/s3vol/store"
)

// Operation labels of the s3 metrics: one per Store and Multipart method.
const (
	opStat         = "stat"
	opGet          = "get"
	opPut          = "put"
	opCopy         = "copy"
	opList         = "list"
	opDelete       = "delete"
	opDeleteMany   = "delete_many"
	opAbortStale   = "abort_stale"
	opAbortUpload  = "abort_upload"
	opMultipartNew = "multipart_create"
	opPartUpload   = "multipart_part"
	opPartCopy     = "multipart_copy"
	opComplete     = "multipart_complete"
	opAbort        = "multipart_abort"
)

// outcomes maps the store's error kinds to outcome labels, checked in
// order; an error of no kind is "error".
var outcomes = []struct {
	kind  error
	label string
}{
	{store.ErrNotFound, "not_found"},
	{store.ErrNoBucket, "no_bucket"},
	{store.ErrPreconditionFailed, "precondition_failed"},
	{store.ErrAccessDenied, "access_denied"},
	{store.ErrUnavailable, "unavailable"},
	{store.ErrInvalidRange, "invalid_range"},
	{store.ErrInvalidArgument, "invalid_argument"},
	{store.ErrNoSpace, "no_space"},
	{store.ErrNotSupported, "not_supported"},
	{context.Canceled, "canceled"},
	{context.DeadlineExceeded, "timeout"},
}

func outcomeOf(err error) string {
	if err == nil {
		return "ok"
	}
	for _, o := range outcomes {
		if errors.Is(err, o.kind) {
			return o.label
		}
	}
	return "error"
}

// Store wraps st so that every call through it is counted and timed. The
// daemon wraps each store it opens, beneath everything that uses it.
func (m *Metrics) Store(st store.Store) store.Store { return &meteredStore{inner: st, m: m} }

type meteredStore struct {
	inner store.Store
	m     *Metrics
}

// done records one call of op that started at start.
func (m *Metrics) done(op string, start time.Time, err error) {
	m.s3Requests.WithLabelValues(op, outcomeOf(err)).Inc()
	m.s3Duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (s *meteredStore) String() string { return s.inner.String() }

func (s *meteredStore) Stat(ctx context.Context, key string) (store.Object, error) {
	start := time.Now()
	obj, err := s.inner.Stat(ctx, key)
	s.m.done(opStat, start, err)
	return obj, err
}

func (s *meteredStore) Get(ctx context.Context, key string, opts store.GetOptions) (io.ReadCloser, store.Object, error) {
	start := time.Now()
	r, obj, err := s.inner.Get(ctx, key, opts)
	s.m.done(opGet, start, err)
	if err != nil {
		return nil, obj, err
	}
	return &countingBody{ReadCloser: r, m: s.m}, obj, nil
}

func (s *meteredStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) (store.Object, error) {
	start := time.Now()
	s.m.uploadsInFlight.Inc()
	obj, err := s.inner.Put(ctx, key, r, size, opts)
	s.m.uploadsInFlight.Dec()
	s.m.done(opPut, start, err)
	if err == nil {
		s.m.s3BytesSent.Add(float64(obj.Size))
	}
	return obj, err
}

func (s *meteredStore) NewMultipart(ctx context.Context, key string, opts store.PutOptions) (store.Multipart, error) {
	start := time.Now()
	mp, err := s.inner.NewMultipart(ctx, key, opts)
	s.m.done(opMultipartNew, start, err)
	if err != nil {
		return nil, err
	}
	s.m.uploadsInFlight.Inc()
	return &meteredMultipart{inner: mp, m: s.m}, nil
}

func (s *meteredStore) Copy(ctx context.Context, src, dst string, opts store.CopyOptions) (store.Object, error) {
	start := time.Now()
	obj, err := s.inner.Copy(ctx, src, dst, opts)
	s.m.done(opCopy, start, err)
	return obj, err
}

// List counts one call per listing (not per page: only the backend sees
// pages), timed until the caller stops iterating, with the outcome of the
// error the listing ended with.
func (s *meteredStore) List(ctx context.Context, opts store.ListOptions) iter.Seq2[store.Object, error] {
	return func(yield func(store.Object, error) bool) {
		start := time.Now()
		var last error
		defer func() { s.m.done(opList, start, last) }()
		for obj, err := range s.inner.List(ctx, opts) {
			last = err
			if !yield(obj, err) {
				return
			}
		}
	}
}

func (s *meteredStore) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := s.inner.Delete(ctx, key)
	s.m.done(opDelete, start, err)
	return err
}

func (s *meteredStore) DeleteMany(ctx context.Context, keys []string) error {
	start := time.Now()
	err := s.inner.DeleteMany(ctx, keys)
	s.m.done(opDeleteMany, start, err)
	return err
}

func (s *meteredStore) AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error) {
	start := time.Now()
	n, err := s.inner.AbortStaleUploads(ctx, prefix, olderThan)
	s.m.done(opAbortStale, start, err)
	return n, err
}

// AbortUpload forwards to the wrapped store (store.UploadAborter).
func (s *meteredStore) AbortUpload(ctx context.Context, key, uploadID string) error {
	start := time.Now()
	err := store.AbortUpload(ctx, s.inner, key, uploadID)
	s.m.done(opAbortUpload, start, err)
	return err
}

// countingBody counts the bytes read from a Get's body.
type countingBody struct {
	io.ReadCloser
	m *Metrics
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.m.s3BytesReceived.Add(float64(n))
	return n, err
}

type meteredMultipart struct {
	inner store.Multipart
	m     *Metrics
	ended sync.Once // the upload left the in-flight gauge
}

// end takes the upload off the in-flight gauge once it is completed or
// aborted (a failed Complete may be followed by an Abort).
func (mp *meteredMultipart) end(err error) {
	if err == nil {
		mp.ended.Do(mp.m.uploadsInFlight.Dec)
	}
}

// UploadID forwards the wrapped upload's id (store.IdentifiedUpload).
func (mp *meteredMultipart) UploadID() string { return store.UploadID(mp.inner) }

func (mp *meteredMultipart) UploadPart(ctx context.Context, n int, r io.Reader, size int64) error {
	start := time.Now()
	err := mp.inner.UploadPart(ctx, n, r, size)
	mp.m.done(opPartUpload, start, err)
	if err == nil {
		mp.m.s3BytesSent.Add(float64(size))
	}
	return err
}

func (mp *meteredMultipart) CopyPart(ctx context.Context, n int, src, srcETag string, offset, length int64) error {
	start := time.Now()
	err := mp.inner.CopyPart(ctx, n, src, srcETag, offset, length)
	mp.m.done(opPartCopy, start, err)
	return err
}

func (mp *meteredMultipart) Complete(ctx context.Context) (store.Object, error) {
	start := time.Now()
	obj, err := mp.inner.Complete(ctx)
	mp.m.done(opComplete, start, err)
	mp.end(err)
	return obj, err
}

func (mp *meteredMultipart) Abort(ctx context.Context) error {
	start := time.Now()
	err := mp.inner.Abort(ctx)
	mp.m.done(opAbort, start, err)
	mp.end(nil) // even a failed abort ends the upload for this process
	return err
}

var (
	_ store.Store            = (*meteredStore)(nil)
	_ store.UploadAborter    = (*meteredStore)(nil)
	_ store.IdentifiedUpload = (*meteredMultipart)(nil)
)

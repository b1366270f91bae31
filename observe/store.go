package observe

import (
	"context"
	"errors"
	"io"
	"iter"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
func (m *Metrics) Store(st store.Store) store.Store {
	return &meteredStore{inner: st, c: daemonWide{m}}
}

// VolumeStore returns the wrapper of the data store one mount of volume
// uses (volmount.Env.WrapStore): its calls are counted again under the
// volume's (or view's) name, in s3vol_volume_s3_*, above the daemon-wide
// counting of Store beneath it. Only calls and bytes are counted per
// volume; latency and uploads in flight stay daemon-wide. Like the FUSE
// series, a volume's stay after it is unmounted and go with Forget.
func (m *Metrics) VolumeStore(volume string) func(store.Store) store.Store {
	v := prometheus.Labels{"volume": volume}
	c := volumeCounters{
		requests:      m.volumeS3.requests.MustCurryWith(v),
		sentBytes:     m.volumeS3.bytes.With(prometheus.Labels{"volume": volume, "direction": "sent"}),
		receivedBytes: m.volumeS3.bytes.With(prometheus.Labels{"volume": volume, "direction": "received"}),
	}
	return func(st store.Store) store.Store { return &meteredStore{inner: st, c: c} }
}

// storeCounters is where a metered store records its calls: the
// daemon-wide metrics or one volume's.
type storeCounters interface {
	done(op string, start time.Time, err error)
	sent(n int64)
	received(n int)
	uploadStarted()
	uploadEnded()
}

// daemonWide records in the s3vol_s3_* metrics.
type daemonWide struct{ m *Metrics }

func (d daemonWide) done(op string, start time.Time, err error) {
	d.m.s3Requests.WithLabelValues(op, outcomeOf(err)).Inc()
	d.m.s3Duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}
func (d daemonWide) sent(n int64)   { d.m.s3BytesSent.Add(float64(n)) }
func (d daemonWide) received(n int) { d.m.s3BytesReceived.Add(float64(n)) }
func (d daemonWide) uploadStarted() { d.m.uploadsInFlight.Inc() }
func (d daemonWide) uploadEnded()   { d.m.uploadsInFlight.Dec() }

// volumeCounters records in one volume's s3vol_volume_s3_* series.
type volumeCounters struct {
	requests                 *prometheus.CounterVec // curried with the volume
	sentBytes, receivedBytes prometheus.Counter
}

func (v volumeCounters) done(op string, _ time.Time, err error) {
	v.requests.WithLabelValues(op, outcomeOf(err)).Inc()
}
func (v volumeCounters) sent(n int64)   { v.sentBytes.Add(float64(n)) }
func (v volumeCounters) received(n int) { v.receivedBytes.Add(float64(n)) }
func (v volumeCounters) uploadStarted() {}
func (v volumeCounters) uploadEnded()   {}

type meteredStore struct {
	inner store.Store
	c     storeCounters
}

func (s *meteredStore) String() string { return s.inner.String() }

func (s *meteredStore) Stat(ctx context.Context, key string) (store.Object, error) {
	start := time.Now()
	obj, err := s.inner.Stat(ctx, key)
	s.c.done(opStat, start, err)
	return obj, err
}

func (s *meteredStore) Get(ctx context.Context, key string, opts store.GetOptions) (io.ReadCloser, store.Object, error) {
	start := time.Now()
	r, obj, err := s.inner.Get(ctx, key, opts)
	s.c.done(opGet, start, err)
	if err != nil {
		return nil, obj, err
	}
	return &countingBody{ReadCloser: r, c: s.c}, obj, nil
}

func (s *meteredStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) (store.Object, error) {
	start := time.Now()
	s.c.uploadStarted()
	obj, err := s.inner.Put(ctx, key, r, size, opts)
	s.c.uploadEnded()
	s.c.done(opPut, start, err)
	if err == nil {
		s.c.sent(obj.Size)
	}
	return obj, err
}

func (s *meteredStore) NewMultipart(ctx context.Context, key string, opts store.PutOptions) (store.Multipart, error) {
	start := time.Now()
	mp, err := s.inner.NewMultipart(ctx, key, opts)
	s.c.done(opMultipartNew, start, err)
	if err != nil {
		return nil, err
	}
	s.c.uploadStarted()
	return &meteredMultipart{inner: mp, c: s.c}, nil
}

func (s *meteredStore) Copy(ctx context.Context, src, dst string, opts store.CopyOptions) (store.Object, error) {
	start := time.Now()
	obj, err := s.inner.Copy(ctx, src, dst, opts)
	s.c.done(opCopy, start, err)
	return obj, err
}

// List counts one call per listing (not per page: only the backend sees
// pages), timed until the caller stops iterating, with the outcome of the
// error the listing ended with.
func (s *meteredStore) List(ctx context.Context, opts store.ListOptions) iter.Seq2[store.Object, error] {
	return func(yield func(store.Object, error) bool) {
		start := time.Now()
		var last error
		defer func() { s.c.done(opList, start, last) }()
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
	s.c.done(opDelete, start, err)
	return err
}

func (s *meteredStore) DeleteMany(ctx context.Context, keys []string) error {
	start := time.Now()
	err := s.inner.DeleteMany(ctx, keys)
	s.c.done(opDeleteMany, start, err)
	return err
}

func (s *meteredStore) AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error) {
	start := time.Now()
	n, err := s.inner.AbortStaleUploads(ctx, prefix, olderThan)
	s.c.done(opAbortStale, start, err)
	return n, err
}

// AbortUpload forwards to the wrapped store (store.UploadAborter).
func (s *meteredStore) AbortUpload(ctx context.Context, key, uploadID string) error {
	start := time.Now()
	err := store.AbortUpload(ctx, s.inner, key, uploadID)
	s.c.done(opAbortUpload, start, err)
	return err
}

// countingBody counts the bytes read from a Get's body.
type countingBody struct {
	io.ReadCloser
	c storeCounters
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.received(n)
	return n, err
}

type meteredMultipart struct {
	inner store.Multipart
	c     storeCounters
	ended sync.Once // the upload left the in-flight gauge
}

// end takes the upload off the in-flight gauge once it is completed or
// aborted (a failed Complete may be followed by an Abort).
func (mp *meteredMultipart) end(err error) {
	if err == nil {
		mp.ended.Do(mp.c.uploadEnded)
	}
}

// UploadID forwards the wrapped upload's id (store.IdentifiedUpload).
func (mp *meteredMultipart) UploadID() string { return store.UploadID(mp.inner) }

func (mp *meteredMultipart) UploadPart(ctx context.Context, n int, r io.Reader, size int64) error {
	start := time.Now()
	err := mp.inner.UploadPart(ctx, n, r, size)
	mp.c.done(opPartUpload, start, err)
	if err == nil {
		mp.c.sent(size)
	}
	return err
}

func (mp *meteredMultipart) CopyPart(ctx context.Context, n int, src, srcETag string, offset, length int64) error {
	start := time.Now()
	err := mp.inner.CopyPart(ctx, n, src, srcETag, offset, length)
	mp.c.done(opPartCopy, start, err)
	return err
}

func (mp *meteredMultipart) Complete(ctx context.Context) (store.Object, error) {
	start := time.Now()
	obj, err := mp.inner.Complete(ctx)
	mp.c.done(opComplete, start, err)
	mp.end(err)
	return obj, err
}

func (mp *meteredMultipart) Abort(ctx context.Context) error {
	start := time.Now()
	err := mp.inner.Abort(ctx)
	mp.c.done(opAbort, start, err)
	mp.end(nil) // even a failed abort ends the upload for this process
	return err
}

var (
	_ store.Store            = (*meteredStore)(nil)
	_ store.UploadAborter    = (*meteredStore)(nil)
	_ store.IdentifiedUpload = (*meteredMultipart)(nil)
)

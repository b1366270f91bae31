package store

import (
	"context"
	"io"
	"iter"
	"sync/atomic"
	"time"
)

// PagedLister is implemented by backends whose List can report each LIST
// request it makes: ListPaged behaves exactly like List and calls onPage
// (when not nil) before every page request. Metered uses it to count LIST
// requests, which only the backend knows.
type PagedLister interface {
	ListPaged(ctx context.Context, opts ListOptions, onPage func()) iter.Seq2[Object, error]
}

// Request kinds counted by Metered, the keys of Snapshot.
const (
	ReqStat            = "stat" // HEAD
	ReqGet             = "get"
	ReqPut             = "put"
	ReqList            = "list" // LIST pages
	ReqCopy            = "copy"
	ReqDelete          = "delete" // single deletes and batches of up to 1000
	ReqMultipartCreate = "multipart_create"
	ReqMultipartPart   = "multipart_part"
	ReqMultipartCopy   = "multipart_copy" // parts copied inside the store
	ReqMultipartDone   = "multipart_complete"
	ReqMultipartAbort  = "multipart_abort"
	ReqAbortStale      = "abort_stale"
	BytesRead          = "bytes_read"    // bytes read from Get streams
	BytesWritten       = "bytes_written" // bytes sent by Put and UploadPart
	numCounters        = 14
)

var counterNames = [numCounters]string{ReqStat, ReqGet, ReqPut, ReqList, ReqCopy, ReqDelete,
	ReqMultipartCreate, ReqMultipartPart, ReqMultipartCopy, ReqMultipartDone, ReqMultipartAbort, ReqAbortStale,
	BytesRead, BytesWritten}

// Metered wraps a Store and counts the requests made through it, by kind,
// so that benchmarks and tests can tell what an operation costs (`ls -l`
// must cost LIST pages and no HEAD). Counts are of calls issued, failed
// ones included; retries inside a backend are not counted. A Put of
// unknown size counts as one put even when the backend turns it into a
// multipart upload; drive uploads through NewWriter on the Metered store to
// count their parts. A Copy counts as one copy (the S3 backend's HEAD of
// the source included). List counts pages when the backend is a
// PagedLister, else one page per DefaultPage (or PageSize) keys returned.
type Metered struct {
	Store
	counts [numCounters]atomic.Int64
}

// NewMetered wraps st.
func NewMetered(st Store) *Metered { return &Metered{Store: st} }

func (m *Metered) add(name string, n int64) {
	for i, c := range counterNames {
		if c == name {
			m.counts[i].Add(n)
			return
		}
	}
	panic("store: unknown counter " + name)
}

// Snapshot returns the counts so far, every kind present.
func (m *Metered) Snapshot() map[string]int64 {
	out := make(map[string]int64, numCounters)
	for i, name := range counterNames {
		out[name] = m.counts[i].Load()
	}
	return out
}

// Reset sets every count back to zero.
func (m *Metered) Reset() {
	for i := range m.counts {
		m.counts[i].Store(0)
	}
}

func (m *Metered) Stat(ctx context.Context, key string) (Object, error) {
	m.add(ReqStat, 1)
	return m.Store.Stat(ctx, key)
}

func (m *Metered) Get(ctx context.Context, key string, opts GetOptions) (io.ReadCloser, Object, error) {
	m.add(ReqGet, 1)
	r, obj, err := m.Store.Get(ctx, key, opts)
	if err != nil {
		return nil, obj, err
	}
	return &meteredReader{ReadCloser: r, m: m}, obj, nil
}

func (m *Metered) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (Object, error) {
	m.add(ReqPut, 1)
	obj, err := m.Store.Put(ctx, key, r, size, opts)
	if err == nil {
		m.add(BytesWritten, obj.Size)
	}
	return obj, err
}

func (m *Metered) NewMultipart(ctx context.Context, key string, opts PutOptions) (Multipart, error) {
	m.add(ReqMultipartCreate, 1)
	mp, err := m.Store.NewMultipart(ctx, key, opts)
	if err != nil {
		return nil, err
	}
	return &meteredMultipart{Multipart: mp, m: m}, nil
}

func (m *Metered) Copy(ctx context.Context, src, dst string, opts CopyOptions) (Object, error) {
	m.add(ReqCopy, 1)
	return m.Store.Copy(ctx, src, dst, opts)
}

func (m *Metered) List(ctx context.Context, opts ListOptions) iter.Seq2[Object, error] {
	if pl, ok := m.Store.(PagedLister); ok {
		return pl.ListPaged(ctx, opts, func() { m.add(ReqList, 1) })
	}
	page := opts.PageSize
	if page <= 0 {
		page = DefaultPage
	}
	return func(yield func(Object, error) bool) {
		m.add(ReqList, 1)
		n := 0
		for obj, err := range m.Store.List(ctx, opts) {
			if n > 0 && n%page == 0 {
				m.add(ReqList, 1)
			}
			n++
			if !yield(obj, err) {
				return
			}
		}
	}
}

func (m *Metered) Delete(ctx context.Context, key string) error {
	m.add(ReqDelete, 1)
	return m.Store.Delete(ctx, key)
}

func (m *Metered) DeleteMany(ctx context.Context, keys []string) error {
	m.add(ReqDelete, int64((len(keys)+999)/1000))
	return m.Store.DeleteMany(ctx, keys)
}

// AbortUpload forwards to the wrapped store (UploadAborter), counted as a
// multipart abort.
func (m *Metered) AbortUpload(ctx context.Context, key, uploadID string) error {
	m.add(ReqMultipartAbort, 1)
	return AbortUpload(ctx, m.Store, key, uploadID)
}

func (m *Metered) AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error) {
	m.add(ReqAbortStale, 1)
	return m.Store.AbortStaleUploads(ctx, prefix, olderThan)
}

type meteredReader struct {
	io.ReadCloser
	m *Metered
}

func (r *meteredReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.m.add(BytesRead, int64(n))
	return n, err
}

type meteredMultipart struct {
	Multipart
	m *Metered
}

// UploadID forwards the wrapped upload's id (IdentifiedUpload).
func (mp *meteredMultipart) UploadID() string { return UploadID(mp.Multipart) }

func (mp *meteredMultipart) UploadPart(ctx context.Context, n int, r io.Reader, size int64) error {
	mp.m.add(ReqMultipartPart, 1)
	err := mp.Multipart.UploadPart(ctx, n, r, size)
	if err == nil {
		mp.m.add(BytesWritten, size)
	}
	return err
}

func (mp *meteredMultipart) CopyPart(ctx context.Context, n int, src, srcETag string, offset, length int64) error {
	mp.m.add(ReqMultipartCopy, 1)
	return mp.Multipart.CopyPart(ctx, n, src, srcETag, offset, length)
}

func (mp *meteredMultipart) Complete(ctx context.Context) (Object, error) {
	mp.m.add(ReqMultipartDone, 1)
	return mp.Multipart.Complete(ctx)
}

func (mp *meteredMultipart) Abort(ctx context.Context) error {
	mp.m.add(ReqMultipartAbort, 1)
	return mp.Multipart.Abort(ctx)
}

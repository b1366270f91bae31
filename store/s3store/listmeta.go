package s3store

import (
	"context"
	"iter"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/minio/minio-go/v7"

	"github.com/s3vol/s3vol/store"
)

// observingTransport learns from responses whether the server is MinIO
// (whose listings can carry user metadata), and reports each LIST request
// to the hook a listing puts in the request's context: minio-go's listing
// iterator paginates on its own, and this is where its pages can be
// counted (store.Metered) and told apart.
type observingTransport struct {
	base    http.RoundTripper
	minio   atomic.Bool
	retries *retryCounter
}

// listHookKey keys the func() called before each LIST request.
type listHookKey struct{}

func (t *observingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if hook, ok := req.Context().Value(listHookKey{}).(func()); ok && req.URL.Query().Has("list-type") {
		hook()
	}
	resp, err := t.base.RoundTrip(req)
	if err == nil && strings.HasPrefix(resp.Header.Get("Server"), "MinIO") {
		t.minio.Store(true)
	}
	t.retries.observe(req, resp, err)
	return resp, err
}

// ListsMetadata reports whether listings can carry user metadata: only on
// MinIO, known from the first response (the bucket check at New).
func (s *Store) ListsMetadata() bool { return s.obs.minio.Load() }

// canListMetadata says whether a listing with opts can use MinIO's
// metadata=true extension, which minio-go offers only through its
// high-level iterator (so only "/" or no delimiter).
func (s *Store) canListMetadata(opts store.ListOptions) bool {
	return opts.WithMetadata && s.ListsMetadata() && (opts.Delimiter == "" || opts.Delimiter == "/")
}

// listWithMetadata lists through minio-go's iterator with metadata=true.
// The iterator yields a page's objects, then its common prefixes: each page
// is gathered (the hook tells when the next one is requested) and yielded
// in key order. A watchdog bounds every wait for the server by the request
// timeout; the time the consumer takes is not counted.
func (s *Store) listWithMetadata(ctx context.Context, opts store.ListOptions, pageSize int, onPage func()) iter.Seq2[store.Object, error] {
	return func(yield func(store.Object, error) bool) {
		lctx, w := newWatchdog(ctx, s.cfg.RequestTimeout)
		defer w.stop()
		var pages atomic.Int64
		lctx = context.WithValue(lctx, listHookKey{}, func() {
			pages.Add(1)
			if onPage != nil {
				onPage()
			}
		})
		noOwner := false
		lo := minio.ListObjectsOptions{
			Prefix: opts.Prefix, Recursive: opts.Delimiter == "", MaxKeys: pageSize,
			StartAfter: opts.StartAfter, WithMetadata: true, FetchOwner: &noOwner,
		}
		var page []store.Object
		flush := func() bool {
			slices.SortFunc(page, func(a, b store.Object) int { return strings.Compare(a.Key, b.Key) })
			for _, o := range page {
				if !yield(o, nil) {
					return false
				}
			}
			page = page[:0]
			return true
		}
		var cur int64
		for info := range s.core.Client.ListObjectsIter(lctx, s.bucket, lo) {
			w.pause()
			if info.Err != nil {
				yield(store.Object{}, wrapErr("list", opts.Prefix, ctx, lctx, info.Err))
				return
			}
			if n := pages.Load(); n != cur {
				if !flush() {
					return
				}
				cur = n
			}
			page = append(page, listedObject(info, opts))
			w.kick()
		}
		w.pause()
		// minio-go's iterator ends silently when its context ends: a
		// listing cut short must not pass for a complete one.
		if lctx.Err() != nil {
			yield(store.Object{}, wrapErr("list", opts.Prefix, ctx, lctx, context.Cause(lctx)))
			return
		}
		flush()
	}
}

// listedObject converts one entry of minio-go's iterator. Common prefixes
// come as bare keys ending in the delimiter; an object's key can end in
// "/" under a "/" delimiter only when it is the prefix itself.
func listedObject(info minio.ObjectInfo, opts store.ListOptions) store.Object {
	if opts.Delimiter != "" && strings.HasSuffix(info.Key, "/") && info.Key != opts.Prefix {
		return store.Object{Key: info.Key, IsPrefix: true}
	}
	o := store.Object{Key: info.Key, Size: info.Size, ETag: trimETag(info.ETag), LastModified: info.LastModified}
	if info.UserMetadata != nil {
		o.Metadata = map[string]string{}
		const prefix = "x-amz-meta-"
		for k, v := range info.UserMetadata {
			if lk := strings.ToLower(k); strings.HasPrefix(lk, prefix) {
				o.Metadata[lk[len(prefix):]] = v
			}
		}
	}
	return o
}

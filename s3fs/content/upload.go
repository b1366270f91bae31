package content

import (
	"context"
	"io"
	"os"

	"github.com/s3vol/s3vol/store"
)

// upload stores size bytes from r as key: one Put up to a part, else a
// multipart upload with parts in flight in parallel, buffers taken from
// the memory budget. The object is visible only once upload returns nil.
func (e *Env) upload(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) (store.Object, error) {
	if size <= e.PartSize {
		return e.Store.Put(ctx, key, r, size, opts)
	}
	w := e.newWriter(ctx, key, opts, size)
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		return store.Object{}, err
	}
	if err := w.Close(); err != nil {
		return store.Object{}, err
	}
	return w.Object(), nil
}

// newWriter starts a streaming upload of key. A part that finds the memory
// budget spent (held by other files, open and idle maybe for good) is
// filled in a file in CacheDir instead of waiting for it.
func (e *Env) newWriter(ctx context.Context, key string, opts store.PutOptions, sizeHint int64) *store.Writer {
	return store.NewWriter(ctx, e.Store, key, opts, store.WriterOptions{
		PartSize:    int(e.PartSize),
		Concurrency: e.UploadConcurrency,
		Pool:        e.Buffers,
		SizeHint:    sizeHint,
		Spill:       func() (*os.File, error) { return e.localFile("part") },
	})
}

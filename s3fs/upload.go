package s3fs

import (
	"context"
	"io"
	"os"

	"github.com/s3vol/s3vol/store"
)

// upload stores size bytes from r as key: one Put up to a part, else a
// multipart upload with parts in flight in parallel, buffers taken from
// the memory budget. The object is visible only once upload returns nil.
func (f *fsys) upload(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) (store.Object, error) {
	if size <= f.opts.PartSize {
		return f.st.Put(ctx, key, r, size, opts)
	}
	w := f.newWriter(ctx, key, opts, size)
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
func (f *fsys) newWriter(ctx context.Context, key string, opts store.PutOptions, sizeHint int64) *store.Writer {
	return store.NewWriter(ctx, f.st, key, opts, store.WriterOptions{
		PartSize:    int(f.opts.PartSize),
		Concurrency: f.opts.UploadConcurrency,
		Pool:        f.pool,
		SizeHint:    sizeHint,
		Spill:       func() (*os.File, error) { return f.localFile("part") },
	})
}

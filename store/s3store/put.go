package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"

	"github.com/s3vol/s3vol/store"
)

// Put stores an object. A known size up to one upload part goes in a
// single PUT; an unknown size (-1) or a larger one streams through
// store.Writer as a multipart upload, in bounded memory.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) (store.Object, error) {
	if err := checkKey("put", key); err != nil {
		return store.Object{}, err
	}
	if size < 0 || size > int64(s.singlePutMax()) {
		return s.putStreaming(ctx, key, r, size, opts)
	}
	popts, err := putOptions("put", key, opts)
	if err != nil {
		return store.Object{}, err
	}
	cctx, wd := newWatchdog(ctx, s.cfg.RequestTimeout)
	defer wd.stop()
	data, b := newBody(r, wd)
	info, err := s.core.PutObject(cctx, s.bucket, key, data, size, "", "", popts)
	if err != nil {
		if b.eof && b.n < size {
			return store.Object{}, store.NewError("put", key, store.ErrInvalidArgument,
				fmt.Errorf("the data ended after %d of the %d bytes announced", b.n, size))
		}
		return store.Object{}, conditionLost(wrapErr("put", key, ctx, cctx, err), opts)
	}
	return store.Object{Key: key, Size: size, ETag: info.ETag, LastModified: now(),
		Metadata: lowerKeys(opts.Metadata)}, nil
}

func (s *Store) singlePutMax() int {
	if s.cfg.Upload.PartSize > 0 {
		return max(s.cfg.Upload.PartSize, store.MinPartSize)
	}
	return store.DefaultPartSize
}

// putStreaming uploads through a store.Writer; with a known size it checks
// that r held exactly that many bytes before committing.
func (s *Store) putStreaming(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) (store.Object, error) {
	wo := s.cfg.Upload
	if size > 0 {
		wo.SizeHint = size
		r = io.LimitReader(r, size)
	}
	w := store.NewWriter(ctx, s, key, opts, wo)
	n, err := w.ReadFrom(r)
	if err != nil {
		w.Abort()
		var se *store.Error
		if errors.As(err, &se) {
			return store.Object{}, err
		}
		return store.Object{}, store.NewError("put", key, nil, fmt.Errorf("reading the data to upload: %w", err))
	}
	if size >= 0 && n != size {
		w.Abort()
		return store.Object{}, store.NewError("put", key, store.ErrInvalidArgument,
			fmt.Errorf("the data ended after %d of the %d bytes announced", n, size))
	}
	if err := w.Close(); err != nil {
		return store.Object{}, err
	}
	return w.Object(), nil
}

// putOptions builds minio-go's options for a write: metadata, content type
// and the create-only or compare-and-swap condition.
func putOptions(op, key string, opts store.PutOptions) (minio.PutObjectOptions, error) {
	md, err := userMetadata(op, key, opts.Metadata)
	if err != nil {
		return minio.PutObjectOptions{}, err
	}
	popts := minio.PutObjectOptions{UserMetadata: md, ContentType: opts.ContentType}
	if err := setConditions(&popts, opts); err != nil {
		return minio.PutObjectOptions{}, store.NewError(op, key, store.ErrInvalidArgument, err)
	}
	return popts, nil
}

func setConditions(popts *minio.PutObjectOptions, opts store.PutOptions) error {
	switch {
	case opts.IfNoneMatch && opts.IfMatch != "":
		return errors.New("IfNoneMatch and IfMatch together: a write is either create-only or a compare-and-swap")
	case opts.IfNoneMatch:
		popts.SetMatchETagExcept("*")
	case opts.IfMatch != "":
		popts.SetMatchETag(opts.IfMatch)
	}
	return nil
}

// body is an upload body: it counts the bytes read (to tell a short body
// from a network failure) and kicks the call's watchdog on every read.
type body struct {
	r   io.Reader
	w   *watchdog
	n   int64
	eof bool
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	b.eof = b.eof || err == io.EOF
	b.w.kick()
	return n, err
}

// seekBody is a body over a seekable source, which minio-go can rewind to
// retry a request. minio-go rewinds to offset 0, so offsets are taken from
// where the source stood when the upload began.
type seekBody struct {
	body
	s    io.Seeker
	base int64
}

func (b *seekBody) Seek(off int64, whence int) (int64, error) {
	if whence == io.SeekStart {
		off += b.base
	}
	pos, err := b.s.Seek(off, whence)
	if err != nil {
		return 0, err
	}
	b.n, b.eof = pos-b.base, false
	return pos - b.base, nil
}

// newBody wraps an upload's data; the result implements io.Seeker only when
// r does.
func newBody(r io.Reader, w *watchdog) (io.Reader, *body) {
	if s, ok := r.(io.Seeker); ok {
		if base, err := s.Seek(0, io.SeekCurrent); err == nil {
			b := &seekBody{body: body{r: r, w: w}, s: s, base: base}
			return b, &b.body
		}
	}
	b := &body{r: r, w: w}
	return b, b
}

package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/store"
)

// Get streams a byte range of the object (see store.Store.Get). A body cut
// off mid-stream (connection reset, early end) is resumed from where it
// stopped, pinned to the ETag it started with; see resumingBody.
func (s *Store) Get(ctx context.Context, key string, opts store.GetOptions) (io.ReadCloser, store.Object, error) {
	if err := checkKey("get", key); err != nil {
		return nil, store.Object{}, err
	}
	if opts.Offset < 0 {
		return nil, store.Object{}, store.NewError("get", key, store.ErrInvalidArgument, fmt.Errorf("negative offset %d: offsets start at 0", opts.Offset))
	}
	body, obj, bodyLen, err := s.getRange(ctx, key, opts.Offset, opts.Length, opts.IfMatch)
	if err != nil {
		if store.IsNotFound(err) || !isInvalidRange(err) {
			return nil, store.Object{}, err
		}
		return s.emptyRange(ctx, key, opts, err)
	}
	r := &resumingBody{s: s, ctx: ctx, key: key, etag: obj.ETag, body: body, next: opts.Offset, left: bodyLen}
	return r, obj, nil
}

// getRange makes one GET request for length bytes from offset (to the end
// when length <= 0), pinned to ifMatch when set. It returns the body, the
// whole object's description, and how many bytes the body announced
// (-1 when it did not say).
func (s *Store) getRange(ctx context.Context, key string, offset, length int64, ifMatch string) (io.ReadCloser, store.Object, int64, error) {
	gopts := minio.GetObjectOptions{}
	if ifMatch != "" {
		gopts.SetMatchETag(ifMatch)
	}
	if err := setRange(&gopts, offset, length); err != nil {
		return nil, store.Object{}, 0, store.NewError("get", key, store.ErrInvalidArgument, err)
	}
	// The watchdog bounds the wait for the reply and, later, each Read.
	cctx, wd := newWatchdog(ctx, s.cfg.RequestTimeout)
	body, info, hdr, err := s.core.GetObject(cctx, s.bucket, key, gopts)
	if err != nil {
		err = wrapErr("get", key, ctx, cctx, err)
		wd.stop()
		return nil, store.Object{}, 0, err
	}
	wd.pause()
	bodyLen := info.Size // the Content-Length
	size := info.Size
	if total, ok := totalFromContentRange(hdr.Get("Content-Range")); ok {
		size = total
	}
	obj := objectFromInfo(key, size, info)
	r := &getBody{body: body, w: wd, mapErr: func(err error) error { return wrapErr("get", key, ctx, cctx, err) }}
	return r, obj, bodyLen, nil
}

func setRange(gopts *minio.GetObjectOptions, offset, length int64) error {
	switch {
	case length > 0:
		return gopts.SetRange(offset, offset+length-1)
	case offset > 0:
		return gopts.SetRange(offset, 0) // bytes=offset-
	}
	return nil
}

// resumingBody is a Get's body that survives a connection cut off in the
// middle: it asks again for the bytes it has not delivered yet, with
// If-Match on the ETag of the first reply, so that the bytes of one read
// always come from one version of the object (a changed object fails the
// read with ErrPreconditionFailed). It gives up after Config.Retries
// resumes in a row that delivered nothing, when the caller's context ends,
// and after a stall (the watchdog already waited RequestTimeout for the
// store: resuming would only multiply the wait).
type resumingBody struct {
	s    *Store
	ctx  context.Context
	key  string
	etag string

	body   io.ReadCloser // nil after a failed resume
	next   int64         // offset of the next byte to deliver
	left   int64         // bytes still to deliver; -1 when unknown
	misses int           // resumes in a row that delivered nothing yet
	err    error         // the failure every later Read repeats
}

func (b *resumingBody) Read(p []byte) (int, error) {
	for b.err == nil {
		n, err := b.body.Read(p)
		b.advance(n)
		if err == nil || (err == io.EOF && b.left <= 0) {
			return n, err
		}
		if err = b.resume(err); err != nil {
			b.err = err
			return n, err
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, b.err
}

// advance accounts for n bytes delivered.
func (b *resumingBody) advance(n int) {
	if n == 0 {
		return
	}
	b.next += int64(n)
	if b.left > 0 {
		b.left -= int64(n)
	}
	b.misses = 0
}

// resume replaces a body that failed with cause by a request for the rest
// of the range; it returns the error the read fails with when it cannot.
func (b *resumingBody) resume(cause error) error {
	if cause == io.EOF { // early end of a body of known length
		cause = store.NewError("get", b.key, store.ErrUnavailable,
			fmt.Errorf("body ended %d bytes early: %w", b.left, io.ErrUnexpectedEOF))
	}
	if !b.resumable(cause) {
		return cause
	}
	b.misses++
	if b.s.cfg.OnRetry != nil {
		b.s.cfg.OnRetry()
	}
	b.body.Close()
	b.body = nil
	logrus.WithFields(logrus.Fields{"key": b.key, "offset": b.next, "left": b.left, "attempt": b.misses, "error": cause}).
		Info("store: GET body cut off, resuming from where it stopped")
	body, obj, bodyLen, err := b.s.getRange(b.ctx, b.key, b.next, b.left, b.etag)
	if err != nil {
		return err
	}
	b.body = body
	if bodyLen != b.left || obj.ETag != b.etag {
		return store.NewError("get", b.key, store.ErrUnavailable,
			fmt.Errorf("resuming at byte %d: asked for %d bytes of ETag %s, the reply has %d bytes of ETag %s",
				b.next, b.left, b.etag, bodyLen, obj.ETag))
	}
	return nil
}

// resumable reports whether a read that failed with err may be resumed.
func (b *resumingBody) resumable(err error) bool {
	switch {
	case b.left <= 0, b.etag == "": // nothing known to ask for, or nothing to pin it to
		return false
	case b.ctx.Err() != nil, errors.Is(err, errStalled):
		return false
	case !errors.Is(err, store.ErrUnavailable):
		return false
	}
	return b.misses < b.s.cfg.Retries
}

func (b *resumingBody) Close() error {
	if b.body == nil {
		return nil
	}
	return b.body.Close()
}

func isInvalidRange(err error) bool { return err != nil && errors.Is(err, store.ErrInvalidRange) }

// emptyRange handles S3's 416 for any range of an empty object, which the
// store contract reads as empty.
func (s *Store) emptyRange(ctx context.Context, key string, opts store.GetOptions, rangeErr error) (io.ReadCloser, store.Object, error) {
	obj, err := s.Stat(ctx, key)
	if err != nil {
		return nil, store.Object{}, err
	}
	if opts.IfMatch != "" && obj.ETag != opts.IfMatch {
		return nil, store.Object{}, store.NewError("get", key, store.ErrPreconditionFailed, nil)
	}
	if obj.Size != 0 {
		return nil, store.Object{}, rangeErr
	}
	return io.NopCloser(strings.NewReader("")), obj, nil
}

// totalFromContentRange reads the full size from "bytes a-b/total".
func totalFromContentRange(v string) (int64, bool) {
	i := strings.LastIndexByte(v, '/')
	if i < 0 || v[i+1:] == "*" {
		return 0, false
	}
	n, err := strconv.ParseInt(v[i+1:], 10, 64)
	return n, err == nil
}

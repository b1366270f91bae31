package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/s3vol/s3vol/store"
)

// Get streams a byte range of the object (see store.Store.Get).
func (s *Store) Get(ctx context.Context, key string, opts store.GetOptions) (io.ReadCloser, store.Object, error) {
	if err := checkKey("get", key); err != nil {
		return nil, store.Object{}, err
	}
	if opts.Offset < 0 {
		return nil, store.Object{}, store.NewError("get", key, store.ErrInvalidArgument, fmt.Errorf("negative offset %d: offsets start at 0", opts.Offset))
	}
	gopts := minio.GetObjectOptions{}
	if opts.IfMatch != "" {
		gopts.SetMatchETag(opts.IfMatch)
	}
	if err := setRange(&gopts, opts); err != nil {
		return nil, store.Object{}, store.NewError("get", key, store.ErrInvalidArgument, err)
	}
	// The watchdog bounds the wait for the reply and, later, each Read.
	cctx, wd := newWatchdog(ctx, s.cfg.RequestTimeout)
	body, info, hdr, err := s.core.GetObject(cctx, s.bucket, key, gopts)
	if err != nil {
		err = wrapErr("get", key, ctx, cctx, err)
		wd.stop()
		if store.IsNotFound(err) || !isInvalidRange(err) {
			return nil, store.Object{}, err
		}
		return s.emptyRange(ctx, key, opts, err)
	}
	wd.pause()
	size := info.Size
	if total, ok := totalFromContentRange(hdr.Get("Content-Range")); ok {
		size = total
	}
	obj := objectFromInfo(key, size, info)
	r := &getBody{body: body, w: wd, mapErr: func(err error) error { return wrapErr("get", key, ctx, cctx, err) }}
	return r, obj, nil
}

func setRange(gopts *minio.GetObjectOptions, opts store.GetOptions) error {
	switch {
	case opts.Length > 0:
		return gopts.SetRange(opts.Offset, opts.Offset+opts.Length-1)
	case opts.Offset > 0:
		return gopts.SetRange(opts.Offset, 0) // bytes=offset-
	}
	return nil
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

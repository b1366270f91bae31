package s3store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/s3vol/s3vol/internal/parallel"
	"github.com/s3vol/s3vol/store"
)

// copyPartSize is the part size of a multipart copy; copyLimit the largest
// object a single CopyObject may copy (a variable so that tests can drive
// the multipart path with small objects).
var (
	copyPartSize int64 = 512 << 20
	copyLimit    int64 = store.MaxPutSize
)

// copyRate is the slowest server-side copy speed we wait for, which sets
// the time bound of a copy request from its size.
const copyRate = 10 << 20 // bytes per second

// Copy copies src to dst on the server. It first stats src: that gives the
// size (objects over 5 GiB need a multipart copy), the metadata a plain
// copy keeps, and the ETag the copy is pinned to, so a source replaced
// meanwhile is never half-copied. Without opts.IfMatch a source that
// changed between the stat and the copy is simply copied again.
func (s *Store) Copy(ctx context.Context, src, dst string, opts store.CopyOptions) (store.Object, error) {
	if err := checkKey("copy", src); err != nil {
		return store.Object{}, err
	}
	if err := checkKey("copy", dst); err != nil {
		return store.Object{}, err
	}
	for attempt := 0; ; attempt++ {
		obj, err := s.copyOnce(ctx, src, dst, opts)
		if err != nil && store.IsPreconditionFailed(err) && opts.IfMatch == "" && attempt < 2 {
			continue
		}
		return obj, err
	}
}

func (s *Store) copyOnce(ctx context.Context, src, dst string, opts store.CopyOptions) (store.Object, error) {
	var info minio.ObjectInfo
	err := s.call(ctx, "copy", src, func(ctx context.Context) (err error) {
		info, err = s.core.Client.StatObject(ctx, s.bucket, src, minio.StatObjectOptions{})
		return err
	})
	if err != nil {
		return store.Object{}, err
	}
	srcObj := objectFromInfo(src, info.Size, info)
	if opts.IfMatch != "" && srcObj.ETag != opts.IfMatch {
		return store.Object{}, store.NewError("copy", src, store.ErrPreconditionFailed,
			fmt.Errorf("source ETag is %s, not %s", srcObj.ETag, opts.IfMatch))
	}
	md := srcObj.Metadata
	if opts.ReplaceMetadata {
		md = lowerKeys(opts.Metadata)
	}
	headers, err := userMetadata("copy", dst, md)
	if err != nil {
		return store.Object{}, err
	}
	var out store.Object
	if info.Size > copyLimit {
		out, err = s.copyMultipart(ctx, src, dst, srcObj, info.ContentType, headers)
	} else {
		out, err = s.copySingle(ctx, src, dst, srcObj, info.ContentType, headers)
	}
	if err != nil {
		return store.Object{}, err
	}
	out.Metadata = md
	return out, nil
}

// copySingle copies with one CopyObject request, always replacing the
// metadata with the set Copy decided on (which keeps the content type).
func (s *Store) copySingle(ctx context.Context, src, dst string, srcObj store.Object, contentType string, headers map[string]string) (store.Object, error) {
	h := map[string]string{"x-amz-metadata-directive": "REPLACE"}
	if contentType != "" {
		h["Content-Type"] = contentType
	}
	for k, v := range headers {
		h[k] = v
	}
	cctx, cancel := context.WithTimeout(ctx, s.copyTimeout(srcObj.Size))
	defer cancel()
	info, err := s.core.CopyObject(cctx, s.bucket, src, s.bucket, dst, h,
		minio.CopySrcOptions{MatchETag: srcObj.ETag}, minio.PutObjectOptions{})
	if err != nil {
		return store.Object{}, wrapErr("copy", dst, ctx, cctx, err)
	}
	lm := info.LastModified
	if lm.IsZero() {
		lm = now()
	}
	return store.Object{Key: dst, Size: srcObj.Size, ETag: trimETag(info.ETag), LastModified: lm}, nil
}

func (s *Store) copyTimeout(size int64) time.Duration {
	return s.cfg.RequestTimeout + time.Duration(size/copyRate)*time.Second
}

// copyMultipart copies an object too large for CopyObject part by part
// (UploadPartCopy), a few parts at a time, each pinned to the source ETag.
func (s *Store) copyMultipart(ctx context.Context, src, dst string, srcObj store.Object, contentType string, headers map[string]string) (store.Object, error) {
	var uploadID string
	err := s.call(ctx, "copy", dst, func(ctx context.Context) (err error) {
		uploadID, err = s.core.NewMultipartUpload(ctx, s.bucket, dst,
			minio.PutObjectOptions{UserMetadata: headers, ContentType: contentType})
		return err
	})
	if err != nil {
		return store.Object{}, err
	}
	parts, err := s.copyParts(ctx, src, dst, uploadID, srcObj)
	if err == nil {
		var info minio.UploadInfo
		err = s.call(ctx, "copy", dst, func(ctx context.Context) (err error) {
			info, err = s.core.CompleteMultipartUpload(ctx, s.bucket, dst, uploadID, parts, minio.PutObjectOptions{})
			return err
		})
		if err == nil {
			return store.Object{Key: dst, Size: srcObj.Size, ETag: trimETag(info.ETag), LastModified: now()}, nil
		}
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
	defer cancel()
	s.core.AbortMultipartUpload(actx, s.bucket, dst, uploadID)
	return store.Object{}, err
}

// copyParts runs the UploadPartCopy requests, four at a time, and returns
// the parts in order or the first failure.
func (s *Store) copyParts(ctx context.Context, src, dst, uploadID string, srcObj store.Object) ([]minio.CompletePart, error) {
	n := int((srcObj.Size + copyPartSize - 1) / copyPartSize)
	if n > store.MaxParts {
		return nil, store.NewError("copy", src, store.ErrInvalidArgument, errors.New("object too large to copy"))
	}
	parts := make([]minio.CompletePart, n)
	err := parallel.Run(ctx, n, 4, func(ctx context.Context, i int) error {
		start := int64(i) * copyPartSize
		length := min(copyPartSize, srcObj.Size-start)
		cctx, cancel := context.WithTimeout(ctx, s.copyTimeout(length))
		defer cancel()
		p, err := s.core.CopyObjectPart(cctx, s.bucket, src, s.bucket, dst, uploadID, i+1, start, length,
			map[string]string{"x-amz-copy-source-if-match": `"` + srcObj.ETag + `"`})
		if err != nil {
			return wrapErr("copy", dst, ctx, cctx, err)
		}
		parts[i] = p
		return nil
	})
	if err != nil {
		var se *store.Error
		if !errors.As(err, &se) {
			err = store.NewError("copy", dst, nil, err)
		}
		return nil, err
	}
	return parts, nil
}

package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"

	"github.com/s3vol/s3vol/store"
)

// NewMultipart starts a multipart upload. The conditions in opts are sent
// both here (MinIO fails early when they already do not hold) and with
// CompleteMultipartUpload, where S3 and MinIO check them atomically.
func (s *Store) NewMultipart(ctx context.Context, key string, opts store.PutOptions) (store.Multipart, error) {
	if err := checkKey("multipart", key); err != nil {
		return nil, err
	}
	popts, err := putOptions("multipart", key, opts)
	if err != nil {
		return nil, err
	}
	var id string
	err = s.call(ctx, "multipart", key, func(ctx context.Context) (err error) {
		id, err = s.core.NewMultipartUpload(ctx, s.bucket, key, popts)
		return err
	})
	if err != nil {
		return nil, conditionLost(err, opts)
	}
	return &multipart{s: s, key: key, id: id, opts: opts, parts: map[int]minio.ObjectPart{}}, nil
}

// multipart is an S3 multipart upload fed by the caller.
type multipart struct {
	s    *Store
	key  string
	id   string
	opts store.PutOptions

	mu    sync.Mutex
	parts map[int]minio.ObjectPart
	done  bool // completed or aborted
}

// UploadPart uploads part n; it is safe for concurrent use.
func (m *multipart) UploadPart(ctx context.Context, n int, r io.Reader, size int64) error {
	if err := store.CheckPart(m.key, n, size); err != nil {
		return err
	}
	cctx, wd := newWatchdog(ctx, m.s.cfg.RequestTimeout)
	defer wd.stop()
	data, b := newBody(r, wd)
	part, err := m.s.core.PutObjectPart(cctx, m.s.bucket, m.key, m.id, n, data, size, minio.PutObjectPartOptions{})
	if err != nil {
		if b.eof && b.n < size {
			return store.NewError("multipart", m.key, store.ErrInvalidArgument,
				fmt.Errorf("part %d: the data ended after %d of the %d bytes announced", n, b.n, size))
		}
		return wrapErr("multipart", m.key, ctx, cctx, fmt.Errorf("part %d: %w", n, err))
	}
	part.Size = size
	m.mu.Lock()
	m.parts[n] = part
	m.mu.Unlock()
	return nil
}

// CopyPart copies a range of src into part n with UploadPartCopy, pinned
// to srcETag; it is safe for concurrent use.
func (m *multipart) CopyPart(ctx context.Context, n int, src, srcETag string, offset, length int64) error {
	if err := store.CheckCopyPart(m.key, n, src, offset, length); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, m.s.copyTimeout(length))
	defer cancel()
	p, err := m.s.core.CopyObjectPart(cctx, m.s.bucket, src, m.s.bucket, m.key, m.id, n, offset, length,
		map[string]string{"x-amz-copy-source-if-match": `"` + srcETag + `"`})
	if err != nil {
		return wrapErr("multipart", m.key, ctx, cctx, fmt.Errorf("part %d, copied from bytes %d-%d of %q: %w",
			n, offset, offset+length-1, src, err))
	}
	m.mu.Lock()
	m.parts[n] = minio.ObjectPart{PartNumber: n, ETag: p.ETag, Size: length}
	m.mu.Unlock()
	return nil
}

// Complete assembles parts 1..N under the upload's conditions. When it
// fails the upload stays open: the caller aborts it (store.Writer does).
func (m *multipart) Complete(ctx context.Context) (store.Object, error) {
	parts, size, err := m.completeList()
	if err != nil {
		return store.Object{}, err
	}
	var popts minio.PutObjectOptions
	setConditions(&popts, m.opts) // validated by NewMultipart
	var info minio.UploadInfo
	err = m.s.call(ctx, "multipart", m.key, func(ctx context.Context) (err error) {
		info, err = m.s.core.CompleteMultipartUpload(ctx, m.s.bucket, m.key, m.id, parts, popts)
		return err
	})
	if err != nil {
		return store.Object{}, conditionLost(err, m.opts)
	}
	m.mu.Lock()
	m.done = true
	m.mu.Unlock()
	return store.Object{Key: m.key, Size: size, ETag: trimETag(info.ETag), LastModified: now(),
		Metadata: lowerKeys(m.opts.Metadata)}, nil
}

// completeList returns the parts in order, checking that none is missing.
func (m *multipart) completeList() ([]minio.CompletePart, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.parts) == 0 {
		return nil, 0, store.NewError("multipart", m.key, store.ErrInvalidArgument, errors.New("no part uploaded"))
	}
	nums := make([]int, 0, len(m.parts))
	for n := range m.parts {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	parts := make([]minio.CompletePart, len(nums))
	var size int64
	for i, n := range nums {
		if n != i+1 {
			return nil, 0, store.NewError("multipart", m.key, store.ErrInvalidArgument,
				fmt.Errorf("part %d was never uploaded", i+1))
		}
		p := m.parts[n]
		parts[i] = minio.CompletePart{PartNumber: n, ETag: p.ETag}
		size += p.Size
	}
	return parts, size, nil
}

// Abort discards the upload; aborting twice, or after Complete, is harmless.
func (m *multipart) Abort(ctx context.Context) error {
	m.mu.Lock()
	done := m.done
	m.done = true
	m.mu.Unlock()
	if done {
		return nil
	}
	err := m.s.call(ctx, "multipart", m.key, func(ctx context.Context) error {
		return m.s.core.AbortMultipartUpload(ctx, m.s.bucket, m.key, m.id)
	})
	if store.IsNotFound(err) { // already gone
		return nil
	}
	return err
}

func trimETag(etag string) string { return strings.Trim(etag, `"`) }

// UploadID is S3's UploadId of the upload (store.IdentifiedUpload).
func (m *multipart) UploadID() string { return m.id }

// AbortUpload aborts one upload by its key and id, e.g. one a process
// that died started (store.UploadAborter). An upload that is gone yields
// ErrNotFound on S3; MinIO answers success.
func (s *Store) AbortUpload(ctx context.Context, key, uploadID string) error {
	if err := store.CheckUploadID(key, uploadID); err != nil {
		return err
	}
	if err := checkKey("abort-upload", key); err != nil {
		return err
	}
	return s.call(ctx, "abort-upload", key, func(ctx context.Context) error {
		return s.core.AbortMultipartUpload(ctx, s.bucket, key, uploadID)
	})
}

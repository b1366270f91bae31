package s3store

import (
	"context"
	"iter"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/s3vol/s3vol/store"
)

var _ store.PagedLister = (*Store)(nil)

// List streams the keys under opts.Prefix page by page (see store.Store).
func (s *Store) List(ctx context.Context, opts store.ListOptions) iter.Seq2[store.Object, error] {
	return s.ListPaged(ctx, opts, nil)
}

// ListPaged is List that calls onPage before each LIST request, so that
// store.Metered can count requests (store.PagedLister).
func (s *Store) ListPaged(ctx context.Context, opts store.ListOptions, onPage func()) iter.Seq2[store.Object, error] {
	return func(yield func(store.Object, error) bool) {
		pageSize := opts.PageSize
		if pageSize <= 0 || pageSize > store.DefaultPage {
			pageSize = store.DefaultPage
		}
		if s.canListMetadata(opts) {
			for obj, err := range s.listWithMetadata(ctx, opts, pageSize, onPage) {
				if !yield(obj, err) {
					return
				}
			}
			return
		}
		token := ""
		for {
			if onPage != nil {
				onPage()
			}
			res, err := s.listPage(ctx, opts.Prefix, opts.StartAfter, token, opts.Delimiter, pageSize)
			if err != nil {
				yield(store.Object{}, err)
				return
			}
			for obj := range mergePage(res) {
				if !yield(obj, nil) {
					return
				}
			}
			if !res.IsTruncated || res.NextContinuationToken == "" {
				return
			}
			token = res.NextContinuationToken
		}
	}
}

// listPage runs one ListObjectsV2 request. minio-go's Core.ListObjectsV2
// takes no context, so the request runs aside (bounded by the transport's
// backstop deadline) while the caller's context can still end the wait.
func (s *Store) listPage(ctx context.Context, prefix, startAfter, token, delim string, max int) (minio.ListBucketV2Result, error) {
	type result struct {
		res minio.ListBucketV2Result
		err error
	}
	var res minio.ListBucketV2Result
	err := s.call(ctx, "list", prefix, func(cctx context.Context) error {
		done := make(chan result, 1)
		go func() {
			r, err := s.core.ListObjectsV2(s.bucket, prefix, startAfter, token, delim, max)
			done <- result{r, err}
		}()
		select {
		case r := <-done:
			res = r.res
			return r.err
		case <-cctx.Done():
			return cctx.Err()
		}
	})
	return res, err
}

// mergePage yields a page's objects and common prefixes in key order (S3
// returns them as two sorted lists).
func mergePage(res minio.ListBucketV2Result) iter.Seq[store.Object] {
	return func(yield func(store.Object) bool) {
		objs, prefixes := res.Contents, res.CommonPrefixes
		for len(objs) > 0 || len(prefixes) > 0 {
			var o store.Object
			if len(prefixes) == 0 || (len(objs) > 0 && objs[0].Key < prefixes[0].Prefix) {
				info := objs[0]
				objs = objs[1:]
				o = store.Object{Key: info.Key, Size: info.Size, ETag: trimETag(info.ETag), LastModified: info.LastModified}
			} else {
				o = store.Object{Key: prefixes[0].Prefix, IsPrefix: true}
				prefixes = prefixes[1:]
			}
			if !yield(o) {
				return
			}
		}
	}
}

// AbortStaleUploads aborts the multipart uploads under prefix started more
// than olderThan ago. MinIO lists uploads for an exact key or for the
// whole bucket but returns none for a shorter prefix, so when the prefixed
// listing finds nothing the whole bucket's uploads are listed and filtered.
func (s *Store) AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	aborted, seen, err := s.abortStale(ctx, prefix, prefix, cutoff)
	if err == nil && seen == 0 && prefix != "" {
		aborted, _, err = s.abortStale(ctx, "", prefix, cutoff)
	}
	return aborted, err
}

// abortStale lists uploads with listPrefix and aborts those under prefix
// started before cutoff; seen counts the uploads under prefix listed.
func (s *Store) abortStale(ctx context.Context, listPrefix, prefix string, cutoff time.Time) (aborted, seen int, err error) {
	keyMarker, idMarker := "", ""
	for {
		var res minio.ListMultipartUploadsResult
		err := s.call(ctx, "abort-stale", prefix, func(ctx context.Context) (err error) {
			res, err = s.core.ListMultipartUploads(ctx, s.bucket, listPrefix, keyMarker, idMarker, "", 1000)
			return err
		})
		if err != nil {
			return aborted, seen, err
		}
		for _, up := range res.Uploads {
			if !strings.HasPrefix(up.Key, prefix) {
				continue
			}
			seen++
			if !up.Initiated.Before(cutoff) {
				continue
			}
			err := s.call(ctx, "abort-stale", up.Key, func(ctx context.Context) error {
				return s.core.AbortMultipartUpload(ctx, s.bucket, up.Key, up.UploadID)
			})
			if err != nil && !store.IsNotFound(err) {
				return aborted, seen, err
			}
			aborted++
		}
		if !res.IsTruncated {
			return aborted, seen, nil
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

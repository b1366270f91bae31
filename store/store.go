// Package store is s3vol's object-store layer: one small interface that the
// filesystem (s3fs) and the metadata registry use for every object they read
// or write, with two backends beneath it:
//
//   - store/s3store: any S3-compatible service (AWS S3, MinIO, Ceph RGW, R2, ...)
//     through minio-go;
//   - store/localstore: a folder on the local disk, the built-in default when no
//     S3 endpoint is configured.
//
// A Store is bound to one bucket. Keys are plain S3 keys: any UTF-8 string of
// 1 to 1024 bytes, "/" has no special meaning except as a List delimiter.
//
// Both backends keep S3's semantics: a Put becomes visible atomically (readers
// see the old object or the new one, never a mix), the last completed write
// wins, deleting a missing key succeeds, and conditional writes (create-only
// and compare-and-swap on the ETag) are atomic.
//
// Every method takes a context; backends bound every network call with it and
// retry transient failures a bounded number of times. Errors are *Error values
// that wrap one of the Err* kinds below, so callers can test them with
// errors.Is and map them to errno values or user-facing messages.
package store

import (
	"context"
	"io"
	"iter"
	"time"
)

// Store is an object store bound to one bucket.
type Store interface {
	// String names the store for logs and messages, e.g.
	// "s3://bucket (http://127.0.0.1:9000)" or "local:/var/lib/s3vol/data".
	// It never contains a secret.
	String() string

	// Stat returns an object's size, ETag, modification time and user
	// metadata. A missing key yields ErrNotFound.
	Stat(ctx context.Context, key string) (Object, error)

	// Get streams the byte range opts.Offset..opts.Offset+opts.Length-1 of an
	// object (to the end when Length <= 0). The returned Object describes the
	// whole object (its Size is the full size, not the range's). With
	// opts.IfMatch set, an object whose ETag differs yields
	// ErrPreconditionFailed: this pins a version across several ranged reads.
	// A range that starts at or past the end of a non-empty object yields
	// ErrInvalidRange; any range of an empty object reads as empty.
	Get(ctx context.Context, key string, opts GetOptions) (io.ReadCloser, Object, error)

	// Put stores the object from r. size is the exact length, or -1 when it
	// is unknown: then the backend streams the data in bounded memory
	// (multipart uploads of PartSize for S3). The object becomes visible only
	// when Put returns nil. opts.IfNoneMatch makes it create-only and
	// opts.IfMatch a compare-and-swap; a failed condition yields
	// ErrPreconditionFailed and leaves the existing object untouched.
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (Object, error)

	// NewMultipart starts a multipart upload that the caller feeds part by
	// part (see Multipart). opts is applied when the upload completes.
	NewMultipart(ctx context.Context, key string, opts PutOptions) (Multipart, error)

	// Copy copies src to dst on the server side (objects over 5 GiB too).
	// The copy keeps src's metadata unless opts.ReplaceMetadata is set, in
	// which case dst gets exactly opts.Metadata. With opts.IfMatch set, a
	// source whose ETag differs yields ErrPreconditionFailed.
	Copy(ctx context.Context, src, dst string, opts CopyOptions) (Object, error)

	// List streams the keys that start with opts.Prefix, in ascending byte
	// order, paginating under the hood. With a Delimiter, keys that contain it
	// after the prefix are rolled up into one Object with IsPrefix set (S3's
	// CommonPrefixes), in the same order. Objects from List carry Key, Size,
	// ETag and LastModified; Metadata only with opts.WithMetadata where the
	// backend can fill it cheaply (see ListOptions). Iteration stops at the
	// first error, which is yielded with a zero Object.
	List(ctx context.Context, opts ListOptions) iter.Seq2[Object, error]

	// Delete removes one object. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error

	// DeleteMany removes many objects, in batches of up to 1000 per request
	// on S3. Missing keys are not errors. The first failure is returned.
	DeleteMany(ctx context.Context, keys []string) error

	// AbortStaleUploads aborts the unfinished multipart uploads under prefix
	// that were started more than olderThan ago, and reports how many.
	AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error)
}

// Multipart is an upload fed part by part. Parts are numbered from 1 (at most
// 10000); every part but the last must be at least MinPartSize bytes on S3.
// UploadPart is safe for concurrent use, so a caller can keep several parts in
// flight; the memory a part uses is the caller's, which keeps it bounded.
type Multipart interface {
	// UploadPart uploads part n from r, which holds exactly size bytes.
	// Uploading the same n twice replaces the earlier part.
	UploadPart(ctx context.Context, n int, r io.Reader, size int64) error
	// CopyPart makes part n from bytes [offset, offset+length) of the object
	// src in the same bucket, copied inside the store (S3's
	// UploadPartCopy): a file changed near its end is stored again without
	// sending its unchanged bytes. src must still have the ETag srcETag,
	// else ErrPreconditionFailed; a missing src yields ErrNotFound. The
	// part follows the size rules of UploadPart.
	CopyPart(ctx context.Context, n int, src, srcETag string, offset, length int64) error
	// Complete assembles parts 1..N (all of them must have been uploaded)
	// into the object, which then becomes visible atomically. The
	// PutOptions conditions given to NewMultipart are checked here.
	Complete(ctx context.Context) (Object, error)
	// Abort discards the upload and its parts. Aborting twice is harmless.
	Abort(ctx context.Context) error
}

// Object describes a stored object, or a common prefix from a delimited List.
type Object struct {
	Key          string
	Size         int64
	ETag         string // without quotes
	LastModified time.Time
	// Metadata is the user metadata: keys lower-case, without the
	// "x-amz-meta-" prefix. Set by Stat, Get, Put and Copy. From List it
	// is nil unless ListOptions.WithMetadata was set and the backend could
	// fill it: then non-nil (possibly empty) means it is the object's
	// complete user metadata, and nil still means unknown.
	Metadata map[string]string
	// IsPrefix marks a common prefix (a "directory") from a delimited List;
	// only Key is set then.
	IsPrefix bool
}

// GetOptions selects the byte range of a Get and pins its version.
type GetOptions struct {
	Offset  int64
	Length  int64  // bytes to read; <= 0 means to the end of the object
	IfMatch string // the ETag the object must still have
}

// PutOptions carries an object's metadata and the conditions of a write.
type PutOptions struct {
	// Metadata is stored as user metadata (keys are lower-cased).
	Metadata    map[string]string
	ContentType string
	// IfNoneMatch makes the write create-only (If-None-Match: *).
	IfNoneMatch bool
	// IfMatch makes the write a compare-and-swap (If-Match: <etag>).
	IfMatch string
}

// CopyOptions controls a server-side copy.
type CopyOptions struct {
	ReplaceMetadata bool
	Metadata        map[string]string
	IfMatch         string // the ETag the source must have
}

// ListOptions selects the keys of a List.
type ListOptions struct {
	Prefix     string
	Delimiter  string // "" lists every key under Prefix, recursively
	StartAfter string // list only keys after this one
	PageSize   int    // keys per request; 0 means the backend's default (1000)
	// WithMetadata asks for each object's user metadata in the listing
	// where the backend can give it without a request per object: the
	// local store always does, the S3 backend on servers that support it
	// (MinIO's metadata=true listing extension), not on AWS S3. Objects
	// whose Metadata stays nil need a Stat for it.
	WithMetadata bool
}

// Sizes that shape multipart uploads.
const (
	MinPartSize = 5 << 20 // S3's minimum for every part but the last
	MaxParts    = 10000   // S3's maximum part number
	MaxKeyLen   = 1024    // S3's maximum key length in bytes
	MaxPutSize  = 5 << 30 // S3's largest single PUT or single CopyObject
	DefaultPage = 1000    // keys per LIST request when PageSize is 0
)

// MaxObjectSize is S3's largest object (5 TiB).
const MaxObjectSize = 5 << 40

// Package content is the data engine of one file of s3fs: how its bytes
// are read from the store, held locally while it is modified, and stored
// again. It knows objects, byte ranges and a memory budget, not inodes or
// FUSE: the filesystem (package s3fs) owns the file nodes, their locking
// and their attributes, calls in here with the node's data lock held, and
// maps the errors to errnos.
//
// A file's local content (Local) is of one of two kinds:
//
//   - a Streamer (stream.go) for a file written from its start: its first
//     part in memory, then a multipart upload going on while the writer
//     writes, the first part kept in a local file so that a header can
//     still be rewritten;
//   - a Staged file (staged.go) for everything else: a sparse file in the
//     cache folder holding the bytes written here and the ranges of the
//     stored object fetched so far (an extent map), stored again at commit
//     as a patch of the old object (patch.go) or whole (upload.go).
//
// A clean file is read by a RangeReader (reader.go): ranged GETs pinned to
// one version, with a read-ahead window for sequential readers whose
// buffers come from the memory budget without waiting.
//
// Everything here depends only on an Env: the store, the memory budget, the
// part size, the concurrency, the cache folder, the logger and the
// timeouts.
package content

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/store"
)

// Env is what the content of every file of one mount shares. Fill in the
// exported fields, then share it by pointer: it also holds what the mount
// learnt about the store (a store that cannot copy parts).
type Env struct {
	// Store is the bucket, with every call already bounded by the caller
	// (s3fs wraps it so that a call making no progress ends).
	Store store.Store
	// Buffers is the memory budget of read-ahead chunks, streamed files'
	// first parts and upload parts.
	Buffers *bufpool.Pool
	Log     logrus.FieldLogger
	// CacheDir holds the staging files, the kept heads of streamed files
	// and upload parts that found the memory budget spent.
	CacheDir string

	// PartSize is the part size of uploads and the block size of patches
	// (at least store.MinPartSize).
	PartSize int64
	// UploadConcurrency bounds the parts of one file in flight.
	UploadConcurrency int
	// ReadAheadMax caps a reader's window, ReadChunkMax one ranged GET of
	// it; KernelReadAhead is how far ahead the kernel itself reads, which
	// sets the first window and what counts as a sequential read.
	ReadAheadMax, ReadChunkMax, KernelReadAhead int64

	// RequestTimeout bounds a request that moves no data (a delete),
	// TransferTimeout one that does.
	RequestTimeout, TransferTimeout time.Duration

	// noPartCopy is set once the store refused to copy a part: files
	// modified in place are then stored whole (see patch.go).
	noPartCopy atomic.Bool
}

// Local is a file's local content: a Streamer or a Staged file. Its
// methods are not safe for concurrent use: the file node serializes them
// (s3fs calls them with the node's data lock held).
type Local interface {
	// Length is the content's size in bytes.
	Length() int64
	// ReadAt reads into p at off; it is short only at the end of the
	// content.
	ReadAt(ctx context.Context, p []byte, off int64) (int, error)
	WriteAt(ctx context.Context, p []byte, off int64) error
	Truncate(size int64) error
	// Commit stores the content as key; the object becomes visible whole
	// when it returns nil.
	Commit(ctx context.Context, key string, opts store.PutOptions) (store.Object, error)
	// Close releases the content's memory and files.
	Close()
}

var (
	_ Local = (*Streamer)(nil)
	_ Local = (*Staged)(nil)
)

// requestCtx bounds a request that moves no data, made on behalf of ctx.
// Requests ignore the caller's interrupts: the Go runtime alone signals its
// threads constantly (SIGURG), and a commit must not be abandoned halfway
// because the writer got a signal during close.
func (e *Env) requestCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), e.RequestTimeout)
}

// transferCtx bounds a data transfer made on behalf of ctx.
func (e *Env) transferCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), e.TransferTimeout)
}

// localFile creates a file in CacheDir for local content and unlinks it at
// once, so that a crash leaves nothing behind; kind names it in errors.
func (e *Env) localFile(kind string) (*os.File, error) {
	if err := os.MkdirAll(e.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the cache folder for a %s file: %w", kind, err)
	}
	file, err := os.CreateTemp(e.CacheDir, kind+"-*")
	if err != nil {
		return nil, fmt.Errorf("creating a %s file: %w", kind, err)
	}
	if err := os.Remove(file.Name()); err != nil {
		file.Close()
		return nil, fmt.Errorf("unlinking a %s file: %w", kind, err)
	}
	return file, nil
}

// move copies src, pinned to etag, to dst and deletes src.
func (e *Env) move(ctx context.Context, src, dst, etag string) (store.Object, error) {
	cctx, cancel := e.transferCtx(ctx)
	defer cancel()
	obj, err := e.Store.Copy(cctx, src, dst, store.CopyOptions{IfMatch: etag})
	if err != nil {
		return store.Object{}, err
	}
	dctx, dcancel := e.requestCtx(ctx)
	defer dcancel()
	if err := e.Store.Delete(dctx, src); err != nil {
		return store.Object{}, err
	}
	return obj, nil
}

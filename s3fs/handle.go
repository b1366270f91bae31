package s3fs

import (
	"context"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/s3vol/s3vol/s3fs/content"
	"github.com/s3vol/s3vol/store"
)

// handle is an open file. Reads go to the node's local content when it
// has one, else to the handle's own range reader, pinned to the version
// seen when it started. Writes go to the node, shared by all its handles.
type handle struct {
	n *fileNode
	// writer: the handle was opened for writing or created the file (a
	// file created read-only, as flock(1) makes its lock file, is new all
	// the same): its close stores the file.
	writer bool

	mu        sync.Mutex
	rd        *content.RangeReader
	rdVersion uint64
	released  bool
}

var (
	_ fs.FileReader   = (*handle)(nil)
	_ fs.FileWriter   = (*handle)(nil)
	_ fs.FileFlusher  = (*handle)(nil)
	_ fs.FileFsyncer  = (*handle)(nil)
	_ fs.FileReleaser = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, local, errno := h.n.read(ctx, dest, off)
	if errno != 0 {
		return nil, errno
	}
	if local {
		return fuse.ReadResultData(dest[:n]), 0
	}
	rd, errno := h.reader()
	if errno != 0 {
		return nil, errno
	}
	res, err := rd.Read(ctx, dest, off)
	if err != nil {
		if store.IsPreconditionFailed(err) {
			h.n.fsys.log.WithField("path", h.n.name()).
				Error("the file changed in the store while open; reopen it to read the new version")
			return nil, syscall.EIO
		}
		return nil, h.n.fsys.fail("read", h.n.name(), err)
	}
	return fuseReply{res}, 0
}

// fuseReply hands a range reader's reply to go-fuse, which writes it to
// the kernel with writev(2) straight from the read-ahead buffers and calls
// Done once it is sent.
type fuseReply struct{ *content.Reply }

func (r fuseReply) Bytes(buf []byte) ([]byte, fuse.Status) { return r.Reply.Bytes(buf), fuse.OK }

func (r fuseReply) Slices() ([][]byte, fuse.Status) { return r.Reply.Slices(), fuse.OK }

// reader returns the handle's range reader, started anew when this mount
// changed the stored object (a commit, a rename) since the last one.
func (h *handle) reader() (*content.RangeReader, syscall.Errno) {
	n := h.n
	rel, ok := n.path()
	if !ok {
		return nil, syscall.ENOENT // unlinked, and nothing local to read
	}
	n.mu.Lock()
	a, version := n.attrs, n.version
	n.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rd == nil || h.rdVersion != version {
		if h.rd != nil {
			h.rd.Close()
		}
		h.rd = content.NewRangeReader(n.fsys.data, n.fsys.fileKey(rel), a.etag, a.size)
		h.rdVersion = version
	}
	return h.rd, 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if errno := h.n.write(ctx, data, off); errno != 0 {
		return 0, errno
	}
	return uint32(len(data)), 0
}

// Flush runs on every close(2): the data written so far is committed, and
// an upload failure is close's error.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	if !h.writer {
		return 0
	}
	return h.n.commitErrno(ctx)
}

func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return h.n.commitErrno(ctx)
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	if h.released {
		h.mu.Unlock()
		return 0
	}
	h.released = true
	if h.rd != nil {
		h.rd.Close()
		h.rd = nil
	}
	h.mu.Unlock()
	h.n.release(ctx, h.writer)
	return 0
}

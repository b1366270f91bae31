package s3fs

import (
	"bytes"
	"context"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/s3vol/s3vol/store"
)

// Special files (fifos, unix sockets, character and block devices) are
// zero-byte objects whose x-amz-meta-mode carries their file type, and a
// device's x-amz-meta-rdev its number: s3fs-fuse's format, so both read
// each other's. The filesystem only stores them: the kernel makes a fifo
// or a socket work between the processes of one host, and the mount is
// nodev, so a device node is never opened as a device through it.

// specialNode is a fifo, a socket or a device node.
type specialNode struct {
	node
	kind kind

	mu    sync.Mutex
	attrs attrs
}

var (
	_ fs.NodeGetattrer = (*specialNode)(nil)
	_ fs.NodeSetattrer = (*specialNode)(nil)
)

func (s *specialNode) getAttrs() attrs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attrs
}

// refresh takes attributes read from the store.
func (s *specialNode) refresh(a attrs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.metaKnown || !s.attrs.metaKnown || !a.sameVersion(&s.attrs) {
		s.attrs = a
	}
}

func (s *specialNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	a := s.getAttrs()
	a.fill(s.kind, &out.Attr)
	return 0
}

// Setattr (chmod, chown, utimes) rewrites the object's metadata. A size
// never reaches here: the kernel refuses to truncate what is not a
// regular file.
func (s *specialNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if s.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	rel, ok := s.path()
	if !ok {
		return syscall.ENOENT
	}
	a := s.getAttrs()
	if !applySetattr(&a, in) {
		a.fill(s.kind, &out.Attr)
		return 0
	}
	a.metaKnown = true
	obj, err := s.fsys.rewriteMeta(ctx, s.fsys.fileKey(rel), a.metadata(s.kind))
	if err != nil {
		return s.fsys.fail("setattr", rel, err)
	}
	a.etag, a.lastModified = obj.ETag, obj.LastModified
	s.mu.Lock()
	s.attrs = a
	s.mu.Unlock()
	if name, d := s.parentDir(); d != nil {
		d.setEntry(name, s.kind, a)
	}
	a.fill(s.kind, &out.Attr)
	return 0
}

// mknodSpecial stores a fifo, socket or device node named name.
func (d *dirNode) mknodSpecial(ctx context.Context, name string, k kind, mode, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	rel, errno := d.childPath(name)
	if errno != 0 {
		return nil, errno
	}
	a := newAttrs(ctx, mode)
	if k == kindCharDev || k == kindBlockDev {
		a.rdev = dev
	}
	ctx, cancel := d.fsys.requestCtx(ctx)
	defer cancel()
	obj, err := d.fsys.st.Put(ctx, d.fsys.fileKey(rel), bytes.NewReader(nil), 0,
		store.PutOptions{Metadata: a.metadata(k)})
	if err != nil {
		return nil, d.fsys.failName("mknod", rel, name, err)
	}
	a.etag, a.lastModified = obj.ETag, obj.LastModified
	ch := d.newChild(ctx, k, a)
	d.setEntry(name, k, a)
	d.entriesChanged()
	a.fill(k, &out.Attr)
	return ch, 0
}

// newSpecial is the node of a special file of kind k.
func (f *fsys) newSpecial(k kind, a attrs) *specialNode {
	return &specialNode{node: node{fsys: f}, kind: k, attrs: a}
}

package s3fs

import (
	"context"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/s3vol/s3vol/store"
)

// linkNode is a symbolic link: an object whose body is the target and
// whose mode metadata carries S_IFLNK. The filesystem never follows a
// link itself; the kernel resolves targets in the caller's namespace.
type linkNode struct {
	node

	mu        sync.Mutex
	attrs     attrs
	checkedAt time.Time
	target    []byte // nil until read
}

var (
	_ fs.NodeGetattrer = (*linkNode)(nil)
	_ fs.NodeSetattrer = (*linkNode)(nil)
)

func (l *linkNode) getAttrs() attrs {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.attrs
}

// refresh takes attributes read from the store; a new version drops the
// cached target.
func (l *linkNode) refresh(a attrs) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !a.sameVersion(&l.attrs) {
		l.target = nil
		l.attrs = a
	} else if a.metaKnown || !l.attrs.metaKnown {
		l.attrs = a
	}
	l.checkedAt = l.fsys.clock()
}

func (l *linkNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	a := l.getAttrs()
	a.fill(kindSymlink, &out.Attr)
	return 0
}

func (l *linkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	l.mu.Lock()
	target, etag := l.target, l.attrs.etag
	l.mu.Unlock()
	if target != nil {
		return target, 0
	}
	rel, ok := l.path()
	if !ok {
		return nil, syscall.ENOENT
	}
	ctx, cancel := l.fsys.requestCtx(ctx)
	defer cancel()
	body, _, err := l.fsys.st.Get(ctx, l.fsys.fileKey(rel), store.GetOptions{IfMatch: etag})
	if store.IsPreconditionFailed(err) {
		body, _, err = l.fsys.st.Get(ctx, l.fsys.fileKey(rel), store.GetOptions{})
	}
	if err != nil {
		return nil, l.fsys.fail("readlink", rel, err)
	}
	defer body.Close()
	target, err = io.ReadAll(io.LimitReader(body, symlinkMax+1))
	if err == nil && (len(target) == 0 || len(target) > symlinkMax) {
		err = fmt.Errorf("symlink object of %d bytes: %w", len(target), syscall.EIO)
	}
	if err != nil {
		return nil, l.fsys.fail("readlink", rel, err)
	}
	l.mu.Lock()
	l.target = target
	l.mu.Unlock()
	return target, 0
}

// Setattr of a symlink (lchown, utimes on the link) rewrites its metadata.
func (l *linkNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if l.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	rel, ok := l.path()
	if !ok {
		return syscall.ENOENT
	}
	a := l.getAttrs()
	if !applySetattr(&a, in) {
		a.fill(kindSymlink, &out.Attr)
		return 0
	}
	a.perm = 0o777
	a.metaKnown = true
	obj, err := l.fsys.rewriteMeta(ctx, l.fsys.fileKey(rel), a.metadata(kindSymlink))
	if err != nil {
		return l.fsys.fail("setattr", rel, err)
	}
	a.etag, a.lastModified = obj.ETag, obj.LastModified
	l.mu.Lock()
	l.attrs = a
	l.mu.Unlock()
	if name, d := l.parentDir(); d != nil {
		d.setEntry(name, kindSymlink, a)
	}
	a.fill(kindSymlink, &out.Attr)
	return 0
}

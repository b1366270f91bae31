package s3fs

import (
	"context"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/s3fs/content"
	"github.com/s3vol/s3vol/store"
)

// fsys is the state one mount shares: the store, the options, the data
// engine's environment and the set of files with uncommitted data.
type fsys struct {
	st      store.Store
	opts    Options
	log     logrus.FieldLogger
	root    *dirNode
	started time.Time // the mtime of directories without metadata
	odd     oddKeys
	// data is what the files' content (package content) works with: the
	// same bounded store, the memory budget, the cache folder.
	data *content.Env

	mu    sync.Mutex
	dirty map[*fileNode]struct{} // files with local changes not yet in the store

	background sync.WaitGroup // listings refreshed ahead (see refreshAhead)

	// clock stamps and judges the freshness of cached metadata (listings,
	// attributes): time.Now, except in tests that stop it to make a TTL
	// expire exactly when they say, not when a slow machine lets it.
	clock func() time.Time
}

func newFsys(opts Options, log logrus.FieldLogger) *fsys {
	st := &boundedStore{Store: opts.Store, timeout: opts.OpTimeout}
	f := &fsys{
		st: st, opts: opts, log: log,
		started: time.Now(), dirty: make(map[*fileNode]struct{}), clock: time.Now,
		data: &content.Env{
			Store: st, Buffers: opts.Buffers, Log: log, CacheDir: opts.CacheDir,
			PartSize: opts.PartSize, UploadConcurrency: opts.UploadConcurrency,
			ReadAheadMax: opts.ReadAheadMax, ReadChunkMax: opts.ReadChunkMax, KernelReadAhead: opts.KernelReadAhead,
			RequestTimeout: opts.RequestTimeout, TransferTimeout: opts.TransferTimeout,
		},
	}
	if opts.clock != nil {
		f.clock = opts.clock
	}
	f.root = &dirNode{node: node{fsys: f}}
	f.root.attrs = f.defaultAttrs(kindDir, store.Object{LastModified: f.started})
	return f
}

// requestCtx bounds a metadata request made on behalf of ctx. Requests
// ignore the caller's interrupts: the Go runtime alone signals its threads
// constantly (SIGURG), and a commit must not be abandoned halfway because
// the writer got a signal during close.
func (f *fsys) requestCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), f.opts.RequestTimeout)
}

// transferCtx bounds a data transfer made on behalf of ctx.
func (f *fsys) transferCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), f.opts.TransferTimeout)
}

// fresh reports whether something checked at t is still within the TTL.
func (f *fsys) fresh(t time.Time) bool {
	return !t.IsZero() && f.clock().Sub(t) < f.opts.MetadataTTL
}

func (f *fsys) markDirty(n *fileNode, dirty bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if dirty {
		f.dirty[n] = struct{}{}
	} else {
		delete(f.dirty, n)
	}
}

func (f *fsys) dirtyFiles() []*fileNode {
	f.mu.Lock()
	defer f.mu.Unlock()
	files := make([]*fileNode, 0, len(f.dirty))
	for n := range f.dirty {
		files = append(files, n)
	}
	return files
}

// node is what every inode of the tree shares.
type node struct {
	fs.Inode
	fsys *fsys
}

// path is the node's path relative to the mount's root ("" for the root).
// ok is false once the node has been unlinked: it has no key any more.
func (n *node) path() (p string, ok bool) {
	root := n.fsys.root.EmbeddedInode()
	in := n.EmbeddedInode()
	var parts []string
	for in != root {
		name, parent := in.Parent()
		if parent == nil {
			return "", false
		}
		parts = append(parts, name)
		in = parent
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return joinPathParts(parts), true
}

func joinPathParts(parts []string) string {
	p := ""
	for _, s := range parts {
		p = joinPath(p, s)
	}
	return p
}

// parentDir is the directory holding n, or nil when n is unlinked.
func (n *node) parentDir() (string, *dirNode) {
	name, parent := n.EmbeddedInode().Parent()
	if parent == nil {
		return "", nil
	}
	d, _ := parent.Operations().(*dirNode)
	return name, d
}

// statfs reports an effectively unlimited filesystem: object stores have
// no fixed capacity.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	const blocks = 1 << 40 // 4 PiB in 4 KiB blocks
	out.Bsize, out.Frsize = 4096, 4096
	out.Blocks, out.Bfree, out.Bavail = blocks, blocks, blocks
	out.Files, out.Ffree = 1<<40, 1<<40
	out.NameLen = maxNameLen
	return 0
}

// Refuse the calls the filesystem cannot honour with a clear errno.

// Getxattr: objects carry no extended attributes. ENOSYS tells the kernel
// so once for the whole mount: it answers every later getxattr itself
// (EOPNOTSUPP), which saves `ls -l` a round trip per entry (it asks for
// security.selinux of each file).
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

// Setxattr: extended attributes are not stored.
func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.ENOTSUP
}

// Removexattr: there is nothing to remove.
func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return syscall.ENODATA
}

// Listxattr: no extended attributes.
func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return 0, 0
}

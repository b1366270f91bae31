package s3fs

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/store"
)

// fsys is the state one mount shares: the store, the options and the set
// of files with uncommitted data.
type fsys struct {
	st      store.Store
	opts    Options
	log     logrus.FieldLogger
	pool    *bufpool.Pool
	root    *dirNode
	started time.Time // the mtime of directories without metadata
	odd     oddKeys
	// noPartCopy is set once the store refused to copy a part: files
	// modified in place are then stored whole (see patch.go).
	noPartCopy atomic.Bool

	mu    sync.Mutex
	dirty map[*fileNode]struct{} // files with local changes not yet in the store

	background sync.WaitGroup // listings refreshed ahead (see refreshAhead)
}

func newFsys(opts Options) *fsys {
	f := &fsys{
		st: &boundedStore{Store: opts.Store, timeout: opts.OpTimeout}, opts: opts, log: opts.Logger, pool: opts.Buffers,
		started: time.Now(), dirty: make(map[*fileNode]struct{}),
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
	return !t.IsZero() && time.Since(t) < f.opts.MetadataTTL
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

// localFile creates a file in CacheDir for local content and unlinks it at
// once, so that a crash leaves nothing behind; kind names it in errors.
func (f *fsys) localFile(kind string) (*os.File, error) {
	if err := os.MkdirAll(f.opts.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the cache folder for a %s file: %w", kind, err)
	}
	file, err := os.CreateTemp(f.opts.CacheDir, kind+"-*")
	if err != nil {
		return nil, fmt.Errorf("creating a %s file: %w", kind, err)
	}
	if err := os.Remove(file.Name()); err != nil {
		file.Close()
		return nil, fmt.Errorf("unlinking a %s file: %w", kind, err)
	}
	return file, nil
}

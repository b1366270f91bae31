package s3fs

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/s3vol/s3vol/s3fs/content"
	"github.com/s3vol/s3vol/store"
)

// fileNode is a regular file. Its content is either in the store alone
// (clean: reads fetch byte ranges) or held locally while it is modified
// (a streamer for a file written from its start, else a staging file),
// until a commit stores it whole.
type fileNode struct {
	node

	// Locking: dataMu guards the local content itself (everything
	// inside a streamer or a staging file): its reads, writes, truncates
	// and commits. mu guards the fields below, including which content
	// local points to (replaced with both held). Attribute readers (stat,
	// listings of the parent) hold only mu, so they never look into the
	// content: attrs.size mirrors its length, updated under mu by every
	// change made under dataMu. dataMu is taken before mu.
	dataMu sync.Mutex

	mu        sync.Mutex
	attrs     attrs         // size is the local content's while there is one
	checkedAt time.Time     // when attrs were last checked against the store
	local     content.Local // nil while the store holds the content
	dirty     bool          // local differs from the store
	mtimeSet  bool          // mtime was set explicitly since the last commit
	pending   bool          // created here and never committed: not in the store
	unlinked  bool
	handles   int
	// movedRel is where a rename moved the file, while go-fuse's tree
	// still shows it where it was (see path).
	movedRel atomic.Pointer[move]
	writers  int
	// version counts the changes of the stored object made by this mount
	// (commits, renames, metadata rewrites): open readers then follow
	// the node to the new version, while changes made elsewhere leave
	// them pinned to the version they opened.
	version uint64
	// remoteGen counts the versions seen in the store; cacheGen is the
	// one the kernel's page cache holds.
	remoteGen, cacheGen uint64
}

var (
	_ fs.NodeGetattrer = (*fileNode)(nil)
	_ fs.NodeSetattrer = (*fileNode)(nil)
	_ fs.NodeOpener    = (*fileNode)(nil)
	_ fs.NodeFsyncer   = (*fileNode)(nil)
	_ fs.NodeAllocater = (*fileNode)(nil)
)

// startNew makes the node a new, empty file that exists only here until
// its first commit.
func (n *fileNode) startNew() {
	n.local = n.newStreamer()
	n.dirty, n.pending = true, true
	n.fsys.markDirty(n, true)
}

// newStreamer starts empty content streamed to the node's current key,
// with its attributes as they are when the upload starts.
func (n *fileNode) newStreamer() *content.Streamer {
	return content.NewStreamer(n.fsys.data, func() (string, store.PutOptions) {
		rel, _ := n.path()
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.fsys.fileKey(rel), store.PutOptions{Metadata: n.attrs.metadata(kindFile)}
	})
}

// isLocal reports whether this mount holds the file's authoritative state.
func (n *fileNode) isLocal() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.local != nil || n.dirty || n.writers > 0
}

func (n *fileNode) pendingAttrs() (attrs, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.currentAttrsLocked(), n.pending && !n.unlinked
}

func (n *fileNode) currentAttrs() attrs {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.currentAttrsLocked()
}

func (n *fileNode) currentAttrsLocked() attrs {
	return n.attrs
}

// markUnlinkedLocked records that the file's name is gone from the store
// (an unlink, a rename onto it): its local content is never committed
// again. Callers hold dataMu across the store call that removed the name
// and call this only once it succeeded: a commit meanwhile would bring
// the object back, and a failed call must leave the file as it was.
func (n *fileNode) markUnlinkedLocked() {
	n.movedRel.Store(nil)
	n.mu.Lock()
	n.unlinked, n.dirty, n.pending = true, false, false
	n.mu.Unlock()
	n.fsys.markDirty(n, false)
}

// refresh takes attributes read from the store. Local state wins; a new
// version replaces the attributes, the same version only improves them.
func (n *fileNode) refresh(a attrs) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.local != nil || n.dirty || n.writers > 0 {
		return
	}
	switch {
	case !a.sameVersion(&n.attrs):
		n.attrs = a
		n.remoteGen++
	case a.metaKnown || !n.attrs.metaKnown:
		n.attrs = a
	}
	n.checkedAt = n.fsys.clock()
}

// revalidate checks the attributes against the store once they are older
// than the TTL: from the parent's fresh listing if there is one, else with
// a Stat.
func (n *fileNode) revalidate(ctx context.Context) error {
	n.mu.Lock()
	skip := n.local != nil || n.dirty || n.writers > 0 || n.fsys.fresh(n.checkedAt)
	n.mu.Unlock()
	if skip {
		return nil
	}
	name, d := n.parentDir()
	if d == nil {
		return nil // unlinked while open: keep what we know
	}
	if e, found, known := d.cachedEntry(ctx, name); known {
		if !found || e.kind != kindFile {
			return store.NewError("stat", name, store.ErrNotFound, nil)
		}
		n.refresh(e.attrs)
		return nil
	}
	rel, ok := n.path()
	if !ok {
		return nil
	}
	ctx, cancel := n.fsys.requestCtx(ctx)
	defer cancel()
	obj, err := n.fsys.st.Stat(ctx, n.fsys.fileKey(rel))
	if err != nil {
		return err
	}
	k, a := n.fsys.attrsFromObject(obj, false)
	if k != kindFile {
		return store.NewError("stat", rel, store.ErrNotFound, errors.New("no longer a regular file"))
	}
	n.refresh(a)
	return nil
}

func (n *fileNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if err := n.revalidate(ctx); err != nil {
		return n.fsys.fail("getattr", n.name(), err)
	}
	a := n.currentAttrs()
	a.fill(kindFile, &out.Attr)
	out.Nlink = n.nlink()
	return 0
}

// name is the node's path for logs.
func (n *fileNode) name() string {
	if p, ok := n.path(); ok {
		return p
	}
	return "(unlinked)"
}

// Open revalidates a stale clean file and hands out a handle. The kernel
// keeps its page cache across opens while the stored version is unchanged.
func (n *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	writable := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if writable && n.fsys.opts.ReadOnly {
		return nil, 0, syscall.EROFS
	}
	if err := n.revalidate(ctx); err != nil {
		return nil, 0, n.fsys.fail("open", n.name(), err)
	}
	h := n.newHandle(writable)
	if writable && flags&syscall.O_TRUNC != 0 {
		if errno := n.truncate(ctx, 0); errno != 0 {
			h.Release(ctx)
			return nil, 0, errno
		}
	}
	n.mu.Lock()
	keep := n.cacheGen == n.remoteGen
	n.cacheGen = n.remoteGen
	n.mu.Unlock()
	var fuseFlags uint32
	if keep {
		fuseFlags |= fuse.FOPEN_KEEP_CACHE
	}
	return h, fuseFlags, 0
}

// newHandle opens a handle; a writer's close stores the file (see
// handle.writer).
func (n *fileNode) newHandle(writer bool) *handle {
	n.mu.Lock()
	n.handles++
	if writer {
		n.writers++
	}
	n.mu.Unlock()
	return &handle{n: n, writer: writer}
}

// release drops a handle; the last writer commits what is still dirty
// (the error was already reported by close) and the last handle drops
// the local content.
func (n *fileNode) release(ctx context.Context, writer bool) {
	n.mu.Lock()
	n.handles--
	if writer {
		n.writers--
	}
	lastWriter := writer && n.writers == 0
	n.mu.Unlock()
	commitErr := error(nil)
	if lastWriter {
		commitErr = n.commit(ctx)
	}
	n.dataMu.Lock()
	defer n.dataMu.Unlock()
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.local.(*content.Streamer); ok && s.Failed() && n.writers == 0 {
		// A failed streaming upload: its content is gone and the error
		// was reported; forget it.
		n.dirty = false
		n.fsys.markDirty(n, false)
	} else if commitErr != nil {
		n.fsys.log.WithField("path", n.name()).
			Error("the file's last writer closed it with changes not stored; they stay local until the mount is flushed or unmounted")
	}
	if n.handles == 0 && n.local != nil && (!n.dirty || n.unlinked) {
		n.local.Close()
		n.local = nil
		n.checkedAt = n.fsys.clock()
	}
}

// ensureLocal returns the local content, starting it from the stored
// object: a staging file, or a streamer when the object is empty. Called
// with dataMu held.
func (n *fileNode) ensureLocal() (content.Local, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.local != nil {
		return n.local, nil
	}
	rel, ok := n.path()
	if !ok && !n.unlinked {
		return nil, syscall.ENOENT
	}
	if n.attrs.size == 0 {
		n.local = n.newStreamer()
	} else {
		n.local = content.NewStaged(n.fsys.data, content.Base{Key: n.fsys.fileKey(rel), ETag: n.attrs.etag, Limit: n.attrs.size})
	}
	return n.local, nil
}

// change applies op to the local content; when op needs random access to
// a streamed file, the content moves to a staging file first. The
// content's new length is published in attrs, even when op failed part
// way. Called with dataMu held.
func (n *fileNode) change(ctx context.Context, op func(content.Local) error) error {
	c, err := n.ensureLocal()
	if err != nil {
		return err
	}
	defer n.publishSize()
	if err = op(c); !errors.Is(err, content.ErrNeedStaging) {
		return err
	}
	if c, err = n.stage(ctx); err != nil {
		return err
	}
	return op(c)
}

// publishSize copies the local content's length into attrs, where readers
// holding only mu find it. Called with dataMu held: the content does not
// change meanwhile.
func (n *fileNode) publishSize() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.local != nil {
		n.attrs.size = n.local.Length()
	}
}

// stage moves streamed content to a staging file. Content still in memory
// is copied; an upload under way cannot be read back, so it is committed
// as the file's current content and the staging file starts from that
// object (the one case where a file's intermediate state becomes visible
// before close: random access to a file being streamed past one part).
// Called with dataMu held.
func (n *fileNode) stage(ctx context.Context) (content.Local, error) {
	n.mu.Lock()
	s, ok := n.local.(*content.Streamer)
	n.mu.Unlock()
	if !ok {
		return n.local, nil
	}
	if !s.Uploading() {
		st, err := s.ToStaged()
		if err != nil {
			return nil, err
		}
		n.mu.Lock()
		n.local = st
		n.mu.Unlock()
		return st, nil
	}
	rel, ok := n.path()
	if !ok {
		return nil, syscall.ENOENT
	}
	if err := n.commitToLocked(ctx, rel); err != nil {
		return nil, err
	}
	return n.ensureLocal()
}

// write stores data at off in the local content.
func (n *fileNode) write(ctx context.Context, data []byte, off int64) syscall.Errno {
	if errno := checkSize(off + int64(len(data))); errno != 0 {
		return errno
	}
	n.dataMu.Lock()
	defer n.dataMu.Unlock()
	err := n.change(ctx, func(c content.Local) error { return c.WriteAt(ctx, data, off) })
	if err != nil {
		return n.fsys.fail("write", n.name(), err)
	}
	n.touch()
	return 0
}

// touch records a local change of the content.
func (n *fileNode) touch() {
	n.mu.Lock()
	n.attrs.mtime = time.Now()
	n.attrs.ctime = n.attrs.mtime
	dirty := !n.unlinked
	n.dirty = dirty
	n.mu.Unlock()
	n.fsys.markDirty(n, dirty)
}

// read serves a read from the local content; ok is false when the file
// is clean and the caller must read from the store.
func (n *fileNode) read(ctx context.Context, dest []byte, off int64) (int, bool, syscall.Errno) {
	n.dataMu.Lock()
	defer n.dataMu.Unlock()
	n.mu.Lock()
	local := n.local
	n.mu.Unlock()
	if local == nil {
		return 0, false, 0
	}
	nr, err := local.ReadAt(ctx, dest, off)
	if errors.Is(err, content.ErrNeedStaging) {
		var c content.Local
		if c, err = n.stage(ctx); err == nil {
			nr, err = c.ReadAt(ctx, dest, off)
		}
	}
	if err != nil {
		return 0, true, n.fsys.fail("read", n.name(), err)
	}
	return nr, true, 0
}

// truncate sets the size. Without an open writer (truncate(2)) the change
// is committed at once, as no close will follow.
func (n *fileNode) truncate(ctx context.Context, size int64) syscall.Errno {
	if errno := checkSize(size); errno != 0 {
		return errno
	}
	n.dataMu.Lock()
	if size == 0 {
		// Nothing of the old content is needed: start afresh, streaming.
		n.mu.Lock()
		if n.local != nil {
			n.local.Close()
		}
		n.local = n.newStreamer()
		n.mu.Unlock()
	}
	err := n.change(ctx, func(c content.Local) error { return c.Truncate(size) })
	if err != nil {
		n.dataMu.Unlock()
		return n.fsys.fail("truncate", n.name(), err)
	}
	n.touch()
	n.mu.Lock()
	writers := n.writers
	n.mu.Unlock()
	n.dataMu.Unlock()
	if writers == 0 {
		return n.commitErrno(ctx)
	}
	return 0
}

func (n *fileNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if n.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	if size, ok := in.GetSize(); ok {
		if errno := n.truncate(ctx, int64(size)); errno != 0 {
			return errno
		}
	}
	if errno := n.setMeta(ctx, in); errno != 0 {
		return errno
	}
	a := n.currentAttrs()
	a.fill(kindFile, &out.Attr)
	return 0
}

// setMeta applies chmod, chown and utimes. A file with local changes
// carries them to its next commit; a clean file rewrites its metadata
// with a server-side copy onto itself.
func (n *fileNode) setMeta(ctx context.Context, in *fuse.SetAttrIn) syscall.Errno {
	n.dataMu.Lock()
	defer n.dataMu.Unlock()
	n.mu.Lock()
	a := n.attrs
	if !applySetattr(&a, in) {
		n.mu.Unlock()
		return 0
	}
	a.metaKnown = true
	if n.dirty || n.unlinked {
		if _, ok := in.GetMTime(); ok {
			n.mtimeSet = true
		}
		n.attrs = a
		n.mu.Unlock()
		return 0
	}
	n.mu.Unlock()
	rel, ok := n.path()
	if !ok {
		return 0
	}
	key := n.fsys.fileKey(rel)
	obj, err := n.fsys.rewriteMeta(ctx, key, a.metadata(kindFile))
	if err != nil {
		return n.fsys.fail("setattr", rel, err)
	}
	n.mu.Lock()
	a.etag, a.lastModified = obj.ETag, obj.LastModified
	n.attrs = a
	n.checkedAt = n.fsys.clock()
	n.version++
	if st, ok := n.local.(*content.Staged); ok {
		st.BaseCopied(key, obj.ETag)
	}
	n.mu.Unlock()
	n.updateParentEntry()
	return 0
}

// rewriteMeta replaces an object's metadata with a copy onto itself. It
// is not pinned to a version: a chmod applies to whatever the file holds.
func (f *fsys) rewriteMeta(ctx context.Context, key string, meta map[string]string) (store.Object, error) {
	ctx, cancel := f.transferCtx(ctx)
	defer cancel()
	return f.st.Copy(ctx, key, key, store.CopyOptions{ReplaceMetadata: true, Metadata: meta})
}

// updateParentEntry tells the parent's listing the node's new attributes;
// not while a rename has moved the file and the tree still shows the old
// name (see path), which would bring that name back into the listing.
func (n *fileNode) updateParentEntry() {
	if _, ok := n.path(); !ok || n.movedRel.Load() != nil {
		return
	}
	if name, d := n.parentDir(); d != nil {
		d.setEntry(name, kindFile, n.currentAttrs())
	}
}

// commit uploads the local content if it differs from the store. The
// object becomes visible whole, when the upload completes.
func (n *fileNode) commit(ctx context.Context) error {
	n.dataMu.Lock()
	defer n.dataMu.Unlock()
	return n.commitLocked(ctx)
}

func (n *fileNode) commitLocked(ctx context.Context) error {
	n.mu.Lock()
	if !n.dirty || n.unlinked || n.local == nil {
		n.mu.Unlock()
		return nil
	}
	n.mu.Unlock()
	rel, ok := n.path()
	if !ok {
		return nil // unlinked: nothing to store
	}
	return n.commitToLocked(ctx, rel)
}

// commitToLocked uploads the local content as the file at rel, dirty or
// not (a rename moves it there). Called with dataMu held.
func (n *fileNode) commitToLocked(ctx context.Context, rel string) error {
	n.mu.Lock()
	a, local := n.attrs, n.local
	n.mu.Unlock()
	key := n.fsys.fileKey(rel)
	obj, err := local.Commit(ctx, key, store.PutOptions{Metadata: a.metadata(kindFile)})
	if err == nil {
		obj, err = n.fixStreamedMeta(ctx, local, key, obj)
	}
	if err != nil {
		n.fsys.log.WithFields(map[string]any{"path": rel, "size": local.Length()}).WithError(err).
			Error("storing a file failed")
		return err
	}
	n.mu.Lock()
	n.dirty, n.pending, n.mtimeSet = false, false, false
	n.attrs.etag, n.attrs.lastModified = obj.ETag, obj.LastModified
	n.attrs.size = local.Length()
	n.attrs.metaKnown = true
	n.checkedAt = n.fsys.clock()
	n.version++
	if _, streamed := local.(*content.Streamer); streamed {
		// Its parts are in the store only: reads go there from now on.
		local.Close()
		n.local = nil
	}
	n.mu.Unlock()
	n.fsys.markDirty(n, false)
	n.updateParentEntry()
	return nil
}

// fixStreamedMeta: a multipart upload carries the attributes it started
// with. A chmod, chown or explicit utimes since then is applied with a
// copy onto itself; the mtime of the writes alone is not worth a copy of
// the whole object, so the file keeps the upload's start as its mtime.
func (n *fileNode) fixStreamedMeta(ctx context.Context, local content.Local, key string, obj store.Object) (store.Object, error) {
	s, ok := local.(*content.Streamer)
	if !ok || !s.Uploading() {
		return obj, nil
	}
	// The attributes the upload started with, read back from its metadata.
	_, sent := n.fsys.attrsFromObject(store.Object{Metadata: s.Sent().Metadata}, false)
	n.mu.Lock()
	a, explicit := n.attrs, n.mtimeSet
	if !explicit {
		a.mtime = sent.mtime
		n.attrs.mtime = sent.mtime
	}
	n.mu.Unlock()
	if a.perm == sent.perm && a.uid == sent.uid && a.gid == sent.gid && a.mtime.Equal(sent.mtime) {
		return obj, nil
	}
	return n.fsys.rewriteMeta(ctx, key, a.metadata(kindFile))
}

// commitErrno commits and maps a failure for close and fsync: ENOSPC when
// the store is full, EIO otherwise.
func (n *fileNode) commitErrno(ctx context.Context) syscall.Errno {
	err := n.commit(ctx)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, store.ErrNoSpace):
		return syscall.ENOSPC
	}
	return syscall.EIO
}

func (n *fileNode) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	return n.commitErrno(ctx)
}

// Allocate (fallocate): only plain preallocation that may grow the file
// is supported; the store has no holes to punch.
func (n *fileNode) Allocate(ctx context.Context, fh fs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	if mode != 0 {
		return syscall.EOPNOTSUPP
	}
	end := int64(off + size)
	if errno := checkSize(end); errno != 0 || off+size < off {
		return syscall.EFBIG
	}
	if end <= n.currentAttrs().size {
		return 0
	}
	n.dataMu.Lock()
	err := n.change(ctx, func(c content.Local) error {
		if end > c.Length() {
			return c.Truncate(end)
		}
		return nil
	})
	n.dataMu.Unlock()
	if err != nil {
		return n.fsys.fail("fallocate", n.name(), err)
	}
	n.touch()
	return 0
}

// CopyFileRange is left to the kernel's fallback (read + write).
func (n *fileNode) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, len uint64, flags uint64) (uint32, syscall.Errno) {
	return 0, syscall.EOPNOTSUPP
}

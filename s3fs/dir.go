package s3fs

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/s3vol/s3vol/layout"
	"github.com/s3vol/s3vol/store"
)

// dirNode is a directory: an explicit marker object "<path>/" and/or the
// common prefix of the keys below it.
type dirNode struct {
	node

	mu        sync.Mutex
	attrs     attrs
	hasMarker bool // a marker object is known to exist
	listing   *listing
	listCall  *listCall
	// refreshing: a listing is being fetched ahead of its expiry.
	refreshing bool
	// staleLookups counts the lookups answered name by name since the
	// listing expired.
	staleLookups int
	// localTimes: mtime and ctime were advanced here by a change of the
	// entries, and are not stored (times.go).
	localTimes bool
}

var (
	_ fs.NodeLookuper       = (*dirNode)(nil)
	_ fs.NodeOpendirHandler = (*dirNode)(nil)
	_ fs.NodeGetattrer      = (*dirNode)(nil)
	_ fs.NodeSetattrer      = (*dirNode)(nil)
	_ fs.NodeMkdirer        = (*dirNode)(nil)
	_ fs.NodeRmdirer        = (*dirNode)(nil)
	_ fs.NodeUnlinker       = (*dirNode)(nil)
	_ fs.NodeCreater        = (*dirNode)(nil)
	_ fs.NodeSymlinker      = (*dirNode)(nil)
	_ fs.NodeRenamer        = (*dirNode)(nil)
	_ fs.NodeLinker         = (*dirNode)(nil)
	_ fs.NodeMknoder        = (*dirNode)(nil)
	_ fs.NodeStatfser       = (*dirNode)(nil)
	_ fs.NodeFsyncer        = (*dirNode)(nil)
	_ fs.NodeGetxattrer     = (*dirNode)(nil)
	_ fs.NodeSetxattrer     = (*dirNode)(nil)
	_ fs.NodeListxattrer    = (*dirNode)(nil)
	_ fs.NodeRemovexattrer  = (*dirNode)(nil)
	_ fs.NodeTmpfiler       = (*dirNode)(nil)
	_ fs.NodeCopyFileRanger = (*fileNode)(nil)
	_ fs.NodeOpener         = (*fileNode)(nil)
	_ fs.NodeReadlinker     = (*linkNode)(nil)
	_ fs.FileReaddirenter   = (*dirHandle)(nil)
	_ fs.FileLookuper       = (*dirHandle)(nil)
	_ fs.FileSeekdirer      = (*dirHandle)(nil)
	_ fs.FileReleasedirer   = (*dirHandle)(nil)
	_ fs.NodeOnForgetter    = (*dirNode)(nil)
	_ fs.InodeEmbedder      = (*linkNode)(nil)
)

func (d *dirNode) getAttrs() attrs {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attrs
}

// OnForget drops nothing: the listing goes with the node.
func (d *dirNode) OnForget() {}

func (d *dirNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	a := d.getAttrs()
	a.fill(kindDir, &out.Attr)
	out.Nlink = d.nlink()
	return 0
}

// Lookup finds a child: a file being written here, else the fresh listing,
// else the store (Stat of the file key and LIST of the directory prefix,
// in parallel).
func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := checkName(name); errno != 0 {
		return nil, errno
	}
	rel, ok := d.path()
	if !ok {
		return nil, syscall.ENOENT
	}
	childRel := joinPath(rel, name)
	if !d.fsys.keyFits(childRel) {
		return nil, syscall.ENAMETOOLONG
	}
	if ch := d.localChild(name); ch != nil {
		fillEntry(ch, out)
		return ch, 0
	}
	e, found, known := d.cachedEntry(ctx, name)
	if !known {
		var err error
		e, err = d.fsys.statEntry(ctx, childRel)
		if store.IsNotFound(err) {
			return nil, syscall.ENOENT
		}
		if err != nil {
			return nil, d.fsys.fail("lookup", childRel, err)
		}
	} else if !found {
		return nil, syscall.ENOENT
	}
	ch := d.childFor(ctx, name, e)
	fillEntry(ch, out)
	return ch, 0
}

// localChild returns the child named name when this mount holds its
// authoritative state: a file with local content or open for writing.
func (d *dirNode) localChild(name string) *fs.Inode {
	ch := d.GetChild(name)
	if ch == nil {
		return nil
	}
	if fn, ok := ch.Operations().(*fileNode); ok && fn.isLocal() {
		return ch
	}
	return nil
}

// childFor returns the inode for entry e named name: the existing child
// when its type still matches (with its attributes refreshed), else a new
// one.
func (d *dirNode) childFor(ctx context.Context, name string, e entry) *fs.Inode {
	if ch := d.GetChild(name); ch != nil {
		switch n := ch.Operations().(type) {
		case *fileNode:
			if e.kind == kindFile {
				n.refresh(e.attrs)
				return ch
			}
		case *dirNode:
			if e.kind == kindDir {
				n.refresh(e.attrs)
				return ch
			}
		case *linkNode:
			if e.kind == kindSymlink {
				n.refresh(e.attrs)
				return ch
			}
		case *specialNode:
			if e.kind == n.kind {
				n.refresh(e.attrs)
				return ch
			}
		}
	}
	return d.newChild(ctx, e.kind, e.attrs)
}

func (d *dirNode) newChild(ctx context.Context, k kind, a attrs) *fs.Inode {
	var ops fs.InodeEmbedder
	switch k {
	case kindDir:
		ops = &dirNode{node: node{fsys: d.fsys}, attrs: a}
	case kindSymlink:
		ops = &linkNode{node: node{fsys: d.fsys}, attrs: a, checkedAt: d.fsys.clock()}
	case kindFifo, kindSocket, kindCharDev, kindBlockDev:
		ops = d.fsys.newSpecial(k, a)
	default:
		ops = &fileNode{node: node{fsys: d.fsys}, attrs: a, checkedAt: d.fsys.clock()}
	}
	return d.NewInode(ctx, ops, fs.StableAttr{Mode: k.TypeBits()})
}

// refresh takes newer attributes from a listing or a lookup; metadata
// learnt from a Stat is not replaced by a listing's defaults.
func (d *dirNode) refresh(a attrs) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a.metaKnown || !d.attrs.metaKnown {
		d.keepLocalTimes(&a)
		d.attrs = a
	}
}

// fillEntry fills out with the attributes of the node behind ch.
func fillEntry(ch *fs.Inode, out *fuse.EntryOut) {
	k, a, _ := knownAttrs(ch.Operations())
	a.fill(k, &out.Attr)
}

// knownAttrs returns the kind and current attributes of a node, and
// whether its metadata is known (not defaulted).
func knownAttrs(ops fs.InodeEmbedder) (kind, attrs, bool) {
	switch n := ops.(type) {
	case *dirNode:
		a := n.getAttrs()
		return kindDir, a, a.metaKnown
	case *fileNode:
		a := n.currentAttrs()
		return kindFile, a, a.metaKnown
	case *linkNode:
		a := n.getAttrs()
		return kindSymlink, a, a.metaKnown
	case *specialNode:
		a := n.getAttrs()
		return n.kind, a, a.metaKnown
	}
	return kindFile, attrs{}, false
}

// statEntry looks a path up in the store: the object "<rel>" (a file or a
// symlink) and any key under "<rel>/" (a directory), in parallel. A
// directory wins over a file of the same name.
func (f *fsys) statEntry(ctx context.Context, rel string) (entry, error) {
	ctx, cancel := f.requestCtx(ctx)
	defer cancel()
	var (
		wg                 sync.WaitGroup
		obj                store.Object
		statErr, listErr   error
		isDir              bool
		first              store.Object // the first key under the prefix
		dirPrefix, fileKey = f.dirPrefix(rel), f.fileKey(rel)
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		obj, statErr = f.st.Stat(ctx, fileKey)
	}()
	// With metadata, the LIST that proves a directory also brings its
	// marker's attributes, sparing a HEAD after it.
	for o, err := range f.st.List(ctx, store.ListOptions{Prefix: dirPrefix, PageSize: 1, WithMetadata: true}) {
		listErr = err
		isDir = err == nil
		first = o
		break
	}
	wg.Wait()
	if isDir {
		if statErr == nil {
			f.odd.report(f, fileKey, "a file and a directory share this name; the directory is shown")
		}
		return f.statDir(ctx, dirPrefix, first), nil
	}
	// A HEAD's "not found" proves nothing while the LIST that could prove
	// a directory failed: that failure is the answer, not ENOENT.
	if listErr != nil && (statErr == nil || store.IsNotFound(statErr)) {
		return entry{}, listErr
	}
	if statErr != nil {
		return entry{}, statErr
	}
	k, a := f.attrsFromObject(obj, false)
	return entry{kind: k, attrs: a}, nil
}

// statDir reads a directory's attributes from its marker, if it has one:
// first is the first key listed under the directory's prefix, the marker
// itself when there is one, maybe with its metadata already.
func (f *fsys) statDir(ctx context.Context, marker string, first store.Object) entry {
	e := entry{kind: kindDir, attrs: f.defaultAttrs(kindDir, store.Object{LastModified: f.started})}
	if first.Key != marker {
		return e
	}
	obj := first
	if obj.Metadata == nil {
		var err error
		if obj, err = f.st.Stat(ctx, marker); err != nil {
			return e
		}
	}
	_, e.attrs = f.attrsFromObject(obj, true)
	e.attrs.size = 0
	return e
}

// OpendirHandle returns a handle that lists the directory once and
// answers the lookups of READDIRPLUS from that same listing, so that
// `ls -l` costs LIST requests only.
func (d *dirNode) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{d: d}, 0, 0
}

// dirHandle is an open directory.
type dirHandle struct {
	d     *dirNode
	mu    sync.Mutex
	l     *listing
	names []string
	pos   int
}

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.l == nil {
		l, err := h.d.list(ctx)
		if err != nil {
			return nil, h.d.fsys.fail("readdir", "", err)
		}
		h.l = l
		h.d.mu.Lock()
		h.names = make([]string, 0, len(l.entries))
		for name := range l.entries {
			h.names = append(h.names, name)
		}
		h.d.mu.Unlock()
		slices.Sort(h.names)
	}
	// "." and ".." come first, at positions 0 and 1, as in any directory;
	// the entries follow, so h.pos - 2 indexes names.
	if h.pos < 2 {
		de := h.d.dotEntry(h.pos)
		h.pos++
		de.Off = uint64(h.pos)
		return de, 0
	}
	for h.pos-2 < len(h.names) {
		name := h.names[h.pos-2]
		h.pos++
		h.d.mu.Lock()
		e := h.l.entries[name]
		h.d.mu.Unlock()
		if e == nil {
			continue // removed since the listing was taken
		}
		return &fuse.DirEntry{Name: name, Mode: e.kind.TypeBits(), Off: uint64(h.pos)}, 0
	}
	return nil, 0
}

// dotEntry is "." (i == 0) or ".." (i == 1) of d. The root's ".." is
// the root itself: what lies above the mount is not the filesystem's.
func (d *dirNode) dotEntry(i int) *fuse.DirEntry {
	if i == 0 {
		return &fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: d.StableAttr().Ino}
	}
	parent := d.EmbeddedInode()
	if _, p := parent.Parent(); p != nil {
		parent = p
	}
	return &fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR, Ino: parent.StableAttr().Ino}
}

// Lookup answers READDIRPLUS from the listing being read.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if ch := h.d.localChild(name); ch != nil {
		fillEntry(ch, out)
		return ch, 0
	}
	h.mu.Lock()
	l := h.l
	h.mu.Unlock()
	if l == nil {
		return h.d.Lookup(ctx, name, out)
	}
	h.d.mu.Lock()
	p := l.entries[name]
	h.d.mu.Unlock()
	if p == nil {
		return nil, syscall.ENOENT
	}
	ch := h.d.childFor(ctx, name, *p)
	fillEntry(ch, out)
	return ch, 0
}

func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off == 0 {
		h.l, h.names = nil, nil // rewinddir: list again (if stale)
	}
	h.pos = int(off)
	return 0
}

func (h *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) {}

// Fsync of a directory: every directory operation is already durable
// when it returns.
func (d *dirNode) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	return 0
}

// caller returns the uid and gid of the process making the request.
func caller(ctx context.Context) (uint32, uint32) {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Uid, c.Gid
	}
	return 0, 0
}

// newAttrs are the attributes of an entry created now by the caller.
func newAttrs(ctx context.Context, mode uint32) attrs {
	uid, gid := caller(ctx)
	now := time.Now()
	return attrs{perm: mode & 0o7777, uid: uid, gid: gid, mtime: now, ctime: now, metaKnown: true}
}

// childPath validates a new entry's name and returns its path.
func (d *dirNode) childPath(name string) (string, syscall.Errno) {
	if d.fsys.opts.ReadOnly {
		return "", syscall.EROFS
	}
	if errno := checkName(name); errno != 0 {
		return "", errno
	}
	rel, ok := d.path()
	if !ok {
		return "", syscall.ENOENT
	}
	childRel := joinPath(rel, name)
	if !d.fsys.keyFits(childRel) {
		return "", syscall.ENAMETOOLONG
	}
	return childRel, 0
}

// Mkdir writes the directory's marker, so that it persists while empty.
func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	rel, errno := d.childPath(name)
	if errno != 0 {
		return nil, errno
	}
	a := newAttrs(ctx, mode)
	if err := d.fsys.putMarker(ctx, rel, &a, false); err != nil {
		return nil, d.fsys.failName("mkdir", rel, name, err)
	}
	ch := d.newChild(ctx, kindDir, a)
	nd := ch.Operations().(*dirNode)
	nd.hasMarker = true
	// A directory made here is empty: lookups in it (the creates that
	// usually follow) need no request until the listing expires.
	nd.listing = &listing{at: d.fsys.clock(), entries: map[string]*entry{}, hasMarker: true}
	d.setEntry(name, kindDir, a)
	d.entriesChanged()
	a.fill(kindDir, &out.Attr)
	return ch, 0
}

// putMarker writes the marker of directory rel with a's attributes. With
// createOnly, an existing marker is left alone.
func (f *fsys) putMarker(ctx context.Context, rel string, a *attrs, createOnly bool) error {
	ctx, cancel := f.requestCtx(ctx)
	defer cancel()
	obj, err := f.st.Put(ctx, f.dirPrefix(rel), bytes.NewReader(nil), 0,
		store.PutOptions{Metadata: a.metadata(kindDir), IfNoneMatch: createOnly})
	if createOnly && store.IsPreconditionFailed(err) {
		return nil
	}
	if err != nil {
		return err
	}
	a.etag, a.lastModified = obj.ETag, obj.LastModified
	return nil
}

// keepImplicit writes the marker of d if it may have none, after its last
// entry may have gone: a directory must not vanish because it is empty.
func (d *dirNode) keepImplicit(ctx context.Context) {
	rel, ok := d.path()
	if !ok || rel == "" {
		return
	}
	d.mu.Lock()
	has, a := d.hasMarker, d.attrs
	d.mu.Unlock()
	if has {
		return
	}
	if err := d.fsys.putMarker(ctx, rel, &a, true); err != nil {
		d.fsys.fail("keep directory", rel, err)
		return
	}
	d.mu.Lock()
	d.hasMarker = true
	d.mu.Unlock()
}

// Rmdir deletes an empty directory's marker; a directory holding any key,
// even one hidden from listings, is not empty.
func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	rel, errno := d.childPath(name)
	if errno != 0 {
		return errno
	}
	if ch := d.GetChild(name); ch != nil {
		if cd, ok := ch.Operations().(*dirNode); ok && cd.hasPendingChildren() {
			return syscall.ENOTEMPTY
		}
	}
	f := d.fsys
	ctx, cancel := f.requestCtx(ctx)
	defer cancel()
	prefix := f.dirPrefix(rel)
	for o, err := range f.st.List(ctx, store.ListOptions{Prefix: prefix, PageSize: 2}) {
		if err != nil {
			return f.fail("rmdir", rel, err)
		}
		if o.Key != prefix {
			return syscall.ENOTEMPTY
		}
	}
	if err := f.st.Delete(ctx, prefix); err != nil {
		return f.fail("rmdir", rel, err)
	}
	d.removeEntry(name)
	d.entriesChanged()
	d.keepImplicit(ctx)
	return 0
}

// hasPendingChildren reports files created in d and not yet committed.
func (d *dirNode) hasPendingChildren() bool {
	for _, ch := range d.Children() {
		if fn, ok := ch.Operations().(*fileNode); ok {
			if _, pending := fn.pendingAttrs(); pending {
				return true
			}
		}
	}
	return false
}

// fileChild returns the node of the file name in d, if the tree has one.
func (d *dirNode) fileChild(name string) *fileNode {
	if ch := d.GetChild(name); ch != nil {
		fn, _ := ch.Operations().(*fileNode)
		return fn
	}
	return nil
}

// Unlink deletes a file or symlink. A file still open keeps its local
// content for its readers but is never committed again.
func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	rel, errno := d.childPath(name)
	if errno != 0 {
		return errno
	}
	fn := d.fileChild(name)
	if fn != nil {
		fn.dataMu.Lock() // no commit may bring the object back
		defer fn.dataMu.Unlock()
	}
	ctx, cancel := d.fsys.requestCtx(ctx)
	defer cancel()
	if err := d.fsys.st.Delete(ctx, d.fsys.fileKey(rel)); err != nil {
		return d.fsys.fail("unlink", rel, err)
	}
	if fn != nil {
		fn.markUnlinkedLocked()
	}
	d.removeEntry(name)
	d.entriesChanged()
	d.keepImplicit(ctx)
	return 0
}

// Create makes a new, empty file. Nothing is written to the store until
// the file is closed or synced: a small file costs one PUT.
func (d *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if _, errno := d.childPath(name); errno != 0 {
		return nil, nil, 0, errno
	}
	a := newAttrs(ctx, mode)
	n := &fileNode{node: node{fsys: d.fsys}, attrs: a, checkedAt: d.fsys.clock()}
	n.startNew()
	ch := d.NewInode(ctx, n, fs.StableAttr{Mode: syscall.S_IFREG})
	h := n.newHandle(true) // even read-only: its close stores the new file
	d.setEntry(name, kindFile, a)
	d.entriesChanged()
	a.fill(kindFile, &out.Attr)
	return ch, h, 0, 0
}

// Tmpfile (O_TMPFILE) is not supported: the kernel remembers ENOSYS and
// fails O_TMPFILE with EOPNOTSUPP from then on.
func (d *dirNode) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.ENOSYS
}

// Symlink stores the link as an object whose body is the target, with
// S_IFLNK in its mode metadata (s3fs-fuse's format).
func (d *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	rel, errno := d.childPath(name)
	if errno != 0 {
		return nil, errno
	}
	if len(target) > symlinkMax {
		return nil, syscall.ENAMETOOLONG
	}
	a := newAttrs(ctx, 0o777)
	a.size = int64(len(target))
	ctx, cancel := d.fsys.requestCtx(ctx)
	defer cancel()
	obj, err := d.fsys.st.Put(ctx, d.fsys.fileKey(rel), bytes.NewReader([]byte(target)), a.size,
		store.PutOptions{Metadata: a.metadata(kindSymlink)})
	if err != nil {
		return nil, d.fsys.failName("symlink", rel, name, err)
	}
	a.etag, a.lastModified = obj.ETag, obj.LastModified
	ch := d.newChild(ctx, kindSymlink, a)
	ch.Operations().(*linkNode).target = []byte(target)
	d.setEntry(name, kindSymlink, a)
	d.entriesChanged()
	a.fill(kindSymlink, &out.Attr)
	return ch, 0
}

// Link: objects cannot share content, so hard links are refused with
// EPERM ("the filesystem does not support hard links", link(2)).
func (d *dirNode) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Mknod creates a regular file, or a fifo, socket or device node
// (special.go).
func (d *dirNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if k := layout.KindOfMode(mode); k.Special() {
		return d.mknodSpecial(ctx, name, k, mode, dev, out)
	}
	if t := mode & syscall.S_IFMT; t != syscall.S_IFREG && t != 0 {
		return nil, syscall.EINVAL
	}
	rel, errno := d.childPath(name)
	if errno != 0 {
		return nil, errno
	}
	a := newAttrs(ctx, mode)
	ctx, cancel := d.fsys.requestCtx(ctx)
	defer cancel()
	obj, err := d.fsys.st.Put(ctx, d.fsys.fileKey(rel), bytes.NewReader(nil), 0,
		store.PutOptions{Metadata: a.metadata(kindFile)})
	if err != nil {
		return nil, d.fsys.failName("mknod", rel, name, err)
	}
	a.etag, a.lastModified = obj.ETag, obj.LastModified
	ch := d.newChild(ctx, kindFile, a)
	d.setEntry(name, kindFile, a)
	d.entriesChanged()
	a.fill(kindFile, &out.Attr)
	return ch, 0
}

// Setattr of a directory rewrites its marker's metadata (creating the
// marker of an implicit directory). The root of a whole-bucket mount has
// no marker to hold attributes.
func (d *dirNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if d.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	rel, ok := d.path()
	if !ok {
		return syscall.ENOENT
	}
	d.mu.Lock()
	a := d.attrs
	d.mu.Unlock()
	if !applySetattr(&a, in) {
		a.fill(kindDir, &out.Attr)
		return 0
	}
	if rel == "" && d.fsys.opts.Prefix == "" {
		return syscall.EPERM
	}
	a.metaKnown = true
	if err := d.fsys.putMarkerAt(ctx, d.fsys.dirPrefix(rel), &a); err != nil {
		return d.fsys.fail("setattr", rel, err)
	}
	d.mu.Lock()
	d.attrs, d.hasMarker = a, true
	d.mu.Unlock()
	if name, parent := d.parentDir(); parent != nil {
		parent.setEntry(name, kindDir, a)
	}
	a.fill(kindDir, &out.Attr)
	return 0
}

// putMarkerAt writes a marker object at key with a's attributes.
func (f *fsys) putMarkerAt(ctx context.Context, key string, a *attrs) error {
	ctx, cancel := f.requestCtx(ctx)
	defer cancel()
	obj, err := f.st.Put(ctx, key, bytes.NewReader(nil), 0, store.PutOptions{Metadata: a.metadata(kindDir)})
	if err != nil {
		return err
	}
	a.etag, a.lastModified = obj.ETag, obj.LastModified
	return nil
}

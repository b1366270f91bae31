package s3fs

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/s3vol/s3vol/internal/parallel"
	"github.com/s3vol/s3vol/s3fs/content"
	"github.com/s3vol/s3vol/store"
)

// Rename moves a file, symlink or directory. Objects cannot be renamed in
// place: each is copied on the server side, then the source is deleted.
// A file or symlink moves atomically as far as readers of the new name
// can tell; a directory moves key by key and is not atomic (a crash in the
// middle leaves both names partly populated, never data lost: sources are
// deleted only after every copy succeeded).
func (d *dirNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	const renameExchange = 1 << 1 // RENAME_EXCHANGE
	if flags&renameExchange != 0 {
		return syscall.EINVAL
	}
	nd, ok := newParent.(*dirNode)
	if !ok {
		return syscall.EXDEV
	}
	oldRel, errno := d.childPath(name)
	if errno != 0 {
		return errno
	}
	newRel, errno := nd.childPath(newName)
	if errno != 0 {
		return errno
	}
	ch := d.GetChild(name)
	if ch == nil {
		// The kernel looks the source up first; it may have been forgotten
		// since. Look it up again.
		var out fuse.EntryOut
		var errno syscall.Errno
		if ch, errno = d.Lookup(ctx, name, &out); errno != 0 {
			return errno
		}
	}
	dst := nd.GetChild(newName)
	// The kernel looks the new name up before a rename: no node there
	// means nothing was there, and a copy that cannot be completed (the
	// source's delete failed) can be undone.
	replacing := dst != nil
	if dst != nil {
		// Files created in the target and not yet stored make it not
		// empty, though the store does not list them.
		if dd, ok := dst.Operations().(*dirNode); ok && dd.hasPendingChildren() {
			return syscall.ENOTEMPTY
		}
	}
	// A file replaced by the rename and the file moved hold their dataMu
	// throughout (in inode order): no commit of the target may land after
	// the copy, and a failed rename leaves the target as it was.
	target := nd.fileChild(newName)
	locked := []*fileNode{}
	if target != nil && target != ch.Operations() {
		locked = append(locked, target)
	} else {
		target = nil
	}
	if fn, ok := ch.Operations().(*fileNode); ok {
		locked = append(locked, fn)
	}
	sortByIno(locked)
	lockData(locked)
	defer unlockData(locked)
	var k kind
	var a attrs
	switch n := ch.Operations().(type) {
	case *fileNode:
		k, errno = kindFile, n.renameToLocked(ctx, oldRel, newRel, replacing)
		a = n.currentAttrs()
	case *linkNode:
		k, errno = kindSymlink, d.fsys.moveObject(ctx, oldRel, newRel, replacing)
		a = n.getAttrs()
	case *specialNode:
		k, errno = n.kind, d.fsys.moveObject(ctx, oldRel, newRel, replacing)
		a = n.getAttrs()
	case *dirNode:
		k, errno = kindDir, d.fsys.renameDir(ctx, n, oldRel, newRel)
		a = n.getAttrs()
	}
	if errno != 0 {
		return errno
	}
	if target != nil {
		target.markUnlinkedLocked()
	}
	d.removeEntry(name)
	nd.setEntry(newName, k, a)
	d.entriesChanged()
	nd.entriesChanged()
	d.keepImplicit(ctx)
	return 0
}

// renameToLocked moves a file: a new file not stored yet is committed
// straight to the new name; any other is copied, its local changes
// committed first under the old name. Storing the changes at the new name
// and then failing to delete the old one would leave the node describing
// an object at a name the caller was told it did not move to. Called with
// dataMu held. replacing says a file was at newRel (see copyLeft).
func (n *fileNode) renameToLocked(ctx context.Context, oldRel, newRel string, replacing bool) syscall.Errno {
	f := n.fsys
	n.mu.Lock()
	pending := n.pending
	n.mu.Unlock()
	if pending {
		if err := n.commitToLocked(ctx, newRel); err != nil {
			return f.fail("rename", oldRel, err)
		}
		n.setMoved(newRel)
		return 0
	}
	if err := n.commitLocked(ctx); err != nil {
		return f.fail("rename", oldRel, err)
	}
	n.mu.Lock()
	etag := n.attrs.etag
	n.mu.Unlock()
	obj, err := f.copyObject(ctx, f.fileKey(oldRel), f.fileKey(newRel), etag)
	if err != nil {
		return f.fail("rename", oldRel, err)
	}
	if err := f.deleteKey(ctx, f.fileKey(oldRel)); err != nil {
		f.copyLeft(ctx, newRel, obj, replacing)
		return f.fail("rename", oldRel, err)
	}
	n.movedTo(newRel, obj)
	return 0
}

// moveObject copies one object to a new name and deletes the old one.
func (f *fsys) moveObject(ctx context.Context, oldRel, newRel string, replacing bool) syscall.Errno {
	obj, err := f.copyObject(ctx, f.fileKey(oldRel), f.fileKey(newRel), "")
	if err != nil {
		return f.fail("rename", oldRel, err)
	}
	if err := f.deleteKey(ctx, f.fileKey(oldRel)); err != nil {
		f.copyLeft(ctx, newRel, obj, replacing)
		return f.fail("rename", oldRel, err)
	}
	return 0
}

// copyLeft handles the copy of a move whose source could not be deleted:
// the rename fails, so the new name must not keep a second copy of the
// file. When nothing was there before, the copy is deleted again, provided
// the new name still holds it (another host may have written there
// since). When the copy replaced a file, that file's content is gone and
// cannot be brought back: the new name keeps the moved content, the old
// name too (the mount shows both within the metadata TTL, as any change
// in the store), and the rename may be retried. Best effort: a store that
// fails the delete fails this too, and the copy then stays, logged.
func (f *fsys) copyLeft(ctx context.Context, newRel string, copied store.Object, replacing bool) {
	key := f.fileKey(newRel)
	log := f.log.WithField("path", newRel)
	if replacing {
		log.Warn("a rename onto an existing file failed after its copy: that file now holds the moved content, and the old name still does")
		return
	}
	ctx, cancel := f.requestCtx(ctx)
	defer cancel()
	cur, err := f.st.Stat(ctx, key)
	if err == nil && cur.ETag == copied.ETag {
		err = f.st.Delete(ctx, key)
	}
	if err != nil && !store.IsNotFound(err) {
		log.WithError(err).Warn("a rename failed after its copy, and the copy could not be removed: both names remain")
	}
}

func (f *fsys) copyObject(ctx context.Context, src, dst, etag string) (store.Object, error) {
	ctx, cancel := f.transferCtx(ctx)
	defer cancel()
	return f.st.Copy(ctx, src, dst, store.CopyOptions{IfMatch: etag})
}

func (f *fsys) deleteKey(ctx context.Context, key string) error {
	ctx, cancel := f.requestCtx(ctx)
	defer cancel()
	return f.st.Delete(ctx, key)
}

// renameDir moves every key under the directory: files with local content
// are committed first, then all keys are copied (in parallel), and only
// when every copy succeeded are the sources deleted. The target must be
// absent or empty. The files below hold their dataMu throughout: a commit
// (a close, an fsync) meanwhile would store its bytes under the old name
// after the copy, to be deleted with the sources, and the staging files'
// bases are rewritten at the end.
func (f *fsys) renameDir(ctx context.Context, dir *dirNode, oldRel, newRel string) syscall.Errno {
	if strings.HasPrefix(newRel+"/", oldRel+"/") {
		return syscall.EINVAL // into itself; the kernel normally catches this
	}
	files := filesBelow(dir)
	lockData(files)
	defer unlockData(files)
	for _, n := range files {
		if err := n.commitLocked(ctx); err != nil {
			return f.fail("rename", oldRel, err)
		}
	}
	ctx, cancel := f.transferCtx(ctx)
	defer cancel()
	src, dst := f.dirPrefix(oldRel), f.dirPrefix(newRel)
	for o, err := range f.st.List(ctx, store.ListOptions{Prefix: dst, PageSize: 2}) {
		if err != nil {
			return f.fail("rename", newRel, err)
		}
		if o.Key != dst {
			return syscall.ENOTEMPTY
		}
	}
	var keys []string
	for o, err := range f.st.List(ctx, store.ListOptions{Prefix: src}) {
		if err != nil {
			return f.fail("rename", oldRel, err)
		}
		keys = append(keys, o.Key)
	}
	copied, err := f.copyAll(ctx, keys, src, dst)
	if err != nil {
		// Leave the source whole; remove the partial copy.
		var made []string
		for k := range copied {
			made = append(made, k)
		}
		if derr := f.st.DeleteMany(ctx, made); derr != nil {
			f.log.WithField("prefix", dst).WithError(derr).Warn("removing a partial directory copy failed")
		}
		return f.fail("rename", oldRel, err)
	}
	if err := f.st.DeleteMany(ctx, keys); err != nil {
		// Some sources may be gone: undo only the copies whose source is
		// still there, so that a retry finds the target empty again.
		f.undoCopies(ctx, src, dst, copied)
		return f.fail("rename", oldRel, err)
	}
	f.retarget(dir, newRel, copied)
	return 0
}

// undoCopies deletes the copies under dst whose source under src still
// exists, after the sources' deletion failed: the directory then stays
// where the caller was told it is, and nothing is lost if the failure
// deleted part of the sources. If the store cannot even list them, both
// trees stay (a retried rename then fails with ENOTEMPTY).
func (f *fsys) undoCopies(ctx context.Context, src, dst string, copied map[string]store.Object) {
	var undo []string
	for o, err := range f.st.List(ctx, store.ListOptions{Prefix: src}) {
		if err != nil {
			f.log.WithField("prefix", dst).WithError(err).Warn("a directory rename failed and its copy could not be undone: both trees remain")
			return
		}
		to := dst + strings.TrimPrefix(o.Key, src)
		if _, ok := copied[to]; ok {
			undo = append(undo, to)
		}
	}
	if err := f.st.DeleteMany(ctx, undo); err != nil {
		f.log.WithField("prefix", dst).WithError(err).Warn("a directory rename failed and its copy could not be undone: both trees remain")
	}
}

// copyAll copies every key from under src to under dst, StoreConcurrency
// at a time, and returns the new objects by key. The first failure stops
// new copies from starting and is returned with what was copied.
func (f *fsys) copyAll(ctx context.Context, keys []string, src, dst string) (map[string]store.Object, error) {
	var (
		mu     sync.Mutex
		copied = make(map[string]store.Object, len(keys))
	)
	err := parallel.Run(ctx, len(keys), f.opts.StoreConcurrency, func(_ context.Context, i int) error {
		to := dst + strings.TrimPrefix(keys[i], src)
		// With ctx, not Run's context (cancelled at the first failure):
		// a copy in flight then runs to its end and is recorded, so that
		// undoCopies knows of every copy that landed.
		obj, err := f.st.Copy(ctx, keys[i], to, store.CopyOptions{})
		if err != nil {
			return err
		}
		mu.Lock()
		copied[to] = obj
		mu.Unlock()
		return nil
	})
	return copied, err
}

// filesBelow returns the file nodes below dir, in the order their dataMu
// are taken when a rename holds several (by inode number), so that two
// such callers cannot deadlock.
func filesBelow(dir *dirNode) []*fileNode {
	var files []*fileNode
	var walk func(d *dirNode)
	walk = func(d *dirNode) {
		for _, ch := range d.Children() {
			switch n := ch.Operations().(type) {
			case *fileNode:
				files = append(files, n)
			case *dirNode:
				walk(n)
			}
		}
	}
	walk(dir)
	sortByIno(files)
	return files
}

func sortByIno(files []*fileNode) {
	slices.SortFunc(files, func(a, b *fileNode) int {
		return cmp.Compare(a.StableAttr().Ino, b.StableAttr().Ino)
	})
}

func lockData(files []*fileNode) {
	for _, n := range files {
		n.dataMu.Lock()
	}
}

func unlockData(files []*fileNode) {
	for _, n := range files {
		n.dataMu.Unlock()
	}
}

// retarget points the open files below a moved directory at their new
// objects, whose ETags may differ from the sources'. Called with the
// files' dataMu held.
func (f *fsys) retarget(dir *dirNode, rel string, copied map[string]store.Object) {
	for name, ch := range dir.Children() {
		childRel := joinPath(rel, name)
		switch n := ch.Operations().(type) {
		case *fileNode:
			if obj, ok := copied[f.fileKey(childRel)]; ok {
				n.movedTo(childRel, obj)
			}
		case *dirNode:
			f.retarget(n, childRel, copied)
		}
	}
}

// movedTo records that a file's object now lives at rel as obj (a rename's
// copy): its attributes and any staging file's base follow it. Called with
// dataMu held, which guards the base.
func (n *fileNode) movedTo(rel string, obj store.Object) {
	key := n.fsys.fileKey(rel)
	n.setMoved(rel)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.attrs.etag, n.attrs.lastModified = obj.ETag, obj.LastModified
	if st, ok := n.local.(*content.Staged); ok {
		st.BaseCopied(key, obj.ETag)
	}
	n.version++
}

// move is a rename the tree does not show yet: the file was at from (as
// the tree still says) and is at to.
type move struct{ from, to string }

// setMoved records that the file now lives at rel, while the tree still
// shows it where it was. Called during a rename, before go-fuse moves the
// node.
func (n *fileNode) setMoved(rel string) {
	from, _ := n.node.path()
	n.movedRel.Store(&move{from: from, to: rel})
}

// path shadows node.path for files: a rename moves the node in go-fuse's
// tree only after Rename has returned and released the file's dataMu, so
// a commit waiting for that lock would find the old name there and store
// the file under it. While the tree shows the file where it was before
// the rename, movedRel says where it is; once the tree shows anything else
// (the new name, or a later name: its directory may have moved since), the
// tree is right again.
func (n *fileNode) path() (string, bool) {
	rel, ok := n.node.path()
	moved := n.movedRel.Load()
	switch {
	case moved == nil:
		return rel, ok
	case !ok || rel == moved.from:
		return moved.to, true
	}
	n.movedRel.CompareAndSwap(moved, nil) // the tree caught up
	return rel, ok
}

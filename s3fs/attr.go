package s3fs

import (
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/s3vol/s3vol/layout"
	"github.com/s3vol/s3vol/store"
)

// kind is the file type of an entry.
type kind = layout.Kind

const (
	kindFile     = layout.File
	kindDir      = layout.Dir
	kindSymlink  = layout.Symlink
	kindFifo     = layout.Fifo // the special files: special.go
	kindSocket   = layout.Socket
	kindCharDev  = layout.CharDev
	kindBlockDev = layout.BlockDev
)

// attrs are the attributes of a file, directory or symlink.
type attrs struct {
	perm     uint32 // permission bits (07777)
	uid, gid uint32
	mtime    time.Time
	// ctime is the last change of content or metadata (times.go); zero
	// for objects that carry none: mtime stands for it.
	ctime time.Time
	// atime is an access time set explicitly (utimes), else zero: reads
	// do not update it, mtime stands for it.
	atime time.Time
	rdev  uint32 // the device number of a device node
	size  int64

	// The version of the object they were read from: a listing or a Stat
	// with the same ETag and size describes the same content.
	etag         string
	lastModified time.Time
	// metaKnown says the user metadata was read (Stat) or written by us;
	// attributes from a listing carry defaults instead.
	metaKnown bool
}

// sameVersion reports whether a and b describe the same stored content.
// LastModified only counts without ETags: S3 does not return it from a PUT,
// so the one we record for our own writes is our clock's, not the store's.
// (A metadata rewrite elsewhere keeps the ETag: it is seen on the next
// HEAD, not through a listing.)
func (a *attrs) sameVersion(b *attrs) bool {
	if a.etag == "" || b.etag == "" {
		return a.etag == b.etag && a.lastModified.Equal(b.lastModified) && a.size == b.size
	}
	return a.etag == b.etag && a.size == b.size
}

// defaultAttrs are the attributes of an object of kind k without metadata.
func (f *fsys) defaultAttrs(k kind, obj store.Object) attrs {
	perm := uint32(f.opts.FileMode.Perm())
	if k == kindDir {
		perm = uint32(f.opts.DirMode.Perm())
	}
	return attrs{
		perm: perm, uid: f.opts.UID, gid: f.opts.GID,
		mtime: obj.LastModified, size: obj.Size,
		etag: obj.ETag, lastModified: obj.LastModified,
	}
}

// attrsFromObject decodes the attributes and kind of an object read with
// Stat (so its metadata is known, even when it has none). isDirMarker says
// the key ends in "/". Metadata that does not parse is ignored in favour of
// the defaults.
func (f *fsys) attrsFromObject(obj store.Object, isDirMarker bool) (kind, attrs) {
	k := kindFile
	if isDirMarker {
		k = kindDir
	}
	a := f.defaultAttrs(k, obj)
	a.metaKnown = true
	stored := layout.DecodeAttrs(obj.Metadata, layout.Attrs{Kind: k, Perm: a.perm, UID: a.uid, GID: a.gid, Mtime: a.mtime})
	a.perm, a.uid, a.gid, a.mtime = stored.Perm, stored.UID, stored.GID, stored.Mtime
	a.ctime, a.atime, a.rdev = stored.Ctime, stored.Atime, stored.Rdev
	return stored.Kind, a
}

// metadata encodes a's attributes for an object of kind k.
func (a *attrs) metadata(k kind) map[string]string {
	return layout.Attrs{Kind: k, Perm: a.perm, UID: a.uid, GID: a.gid, Mtime: a.mtime,
		Ctime: a.ctime, Atime: a.atime, Rdev: a.rdev}.Metadata()
}

// fill writes a's attributes of kind k into out.
func (a *attrs) fill(k kind, out *fuse.Attr) {
	out.Mode = k.TypeBits() | a.perm
	out.Size = uint64(a.size)
	out.Uid, out.Gid = a.uid, a.gid
	out.Rdev = a.rdev
	out.Nlink = 1
	if k == kindDir {
		out.Nlink = 2
	}
	mtime, atime, ctime := a.times()
	out.SetTimes(&atime, &mtime, &ctime)
	out.Blksize = 1 << 20
	out.Blocks = (uint64(a.size) + 511) / 512
}

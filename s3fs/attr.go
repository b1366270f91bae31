package s3fs

import (
	"math"
	"strconv"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/s3vol/s3vol/store"
)

// kind is the file type of an entry.
type kind uint8

const (
	kindFile kind = iota
	kindDir
	kindSymlink
	// The special files (special.go): zero-byte objects whose type is
	// in their mode.
	kindFifo
	kindSocket
	kindCharDev
	kindBlockDev
)

func (k kind) ifmt() uint32 {
	switch k {
	case kindDir:
		return syscall.S_IFDIR
	case kindSymlink:
		return syscall.S_IFLNK
	case kindFifo:
		return syscall.S_IFIFO
	case kindSocket:
		return syscall.S_IFSOCK
	case kindCharDev:
		return syscall.S_IFCHR
	case kindBlockDev:
		return syscall.S_IFBLK
	}
	return syscall.S_IFREG
}

func (k kind) String() string {
	return [...]string{"file", "directory", "symlink", "fifo", "socket", "character device", "block device"}[k]
}

// The user-metadata keys, in s3fs-fuse's format so that s3fs-fuse and
// rclone users see the same attributes: mode is the decimal st_mode with the
// file type bits, uid/gid decimal, mtime epoch seconds. rclone writes mtime
// as a float; we read both. mtime-nsec keeps the sub-second part, which
// s3fs-fuse cannot parse inside mtime. ctime and atime (set explicitly
// only) are epoch seconds as in s3fs-fuse, with their -nsec likewise; rdev
// is the decimal device number of a device node (as s3fs-fuse's).
const (
	metaMode      = "mode"
	metaUID       = "uid"
	metaGID       = "gid"
	metaMtime     = "mtime"
	metaMtimeNsec = "mtime-nsec"
	metaCtime     = "ctime"
	metaCtimeNsec = "ctime-nsec"
	metaAtime     = "atime"
	metaAtimeNsec = "atime-nsec"
	metaRdev      = "rdev"
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
	mode, hasMode := parseUint(obj.Metadata[metaMode])
	if hasMode && !isDirMarker {
		k = kindOfMode(uint32(mode))
	}
	a := f.defaultAttrs(k, obj)
	a.metaKnown = true
	if hasMode {
		a.perm = uint32(mode) & 0o7777
	}
	if v, ok := parseUint(obj.Metadata[metaUID]); ok {
		a.uid = uint32(v)
	}
	if v, ok := parseUint(obj.Metadata[metaGID]); ok {
		a.gid = uint32(v)
	}
	if t, ok := parseMtime(obj.Metadata[metaMtime], obj.Metadata[metaMtimeNsec]); ok {
		a.mtime = t
	}
	if t, ok := parseMtime(obj.Metadata[metaCtime], obj.Metadata[metaCtimeNsec]); ok {
		a.ctime = t
	}
	if t, ok := parseMtime(obj.Metadata[metaAtime], obj.Metadata[metaAtimeNsec]); ok {
		a.atime = t
	}
	if v, ok := parseUint(obj.Metadata[metaRdev]); ok && (k == kindCharDev || k == kindBlockDev) {
		a.rdev = uint32(v)
	}
	return k, a
}

// metadata encodes a's attributes for an object of kind k.
func (a *attrs) metadata(k kind) map[string]string {
	m := map[string]string{
		metaMode:  strconv.FormatUint(uint64(k.ifmt()|a.perm), 10),
		metaUID:   strconv.FormatUint(uint64(a.uid), 10),
		metaGID:   strconv.FormatUint(uint64(a.gid), 10),
		metaMtime: strconv.FormatInt(a.mtime.Unix(), 10),
	}
	if ns := a.mtime.Nanosecond(); ns != 0 {
		m[metaMtimeNsec] = strconv.Itoa(ns)
	}
	putTime(m, metaCtime, metaCtimeNsec, a.ctime)
	putTime(m, metaAtime, metaAtimeNsec, a.atime)
	if k == kindCharDev || k == kindBlockDev {
		m[metaRdev] = strconv.FormatUint(uint64(a.rdev), 10)
	}
	return m
}

func parseUint(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 32)
	return v, err == nil
}

// parseMtime reads s3fs-fuse's integer seconds or rclone's float seconds,
// refined by our nanoseconds when present.
func parseMtime(s, nsec string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ns, err := strconv.ParseInt(nsec, 10, 64); err == nil && ns >= 0 && ns < 1e9 {
			return time.Unix(sec, ns), true
		}
		return time.Unix(sec, 0), true
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e15 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// fill writes a's attributes of kind k into out.
func (a *attrs) fill(k kind, out *fuse.Attr) {
	out.Mode = k.ifmt() | a.perm
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

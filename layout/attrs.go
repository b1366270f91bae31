package layout

import (
	"math"
	"strconv"
	"time"
)

// Kind is the file type of an entry.
type Kind uint8

// The kinds. A key ending in "/" is a directory; any other key is a file,
// or, when its mode's type bits say so, a symlink or one of the special
// files: zero-byte objects (s3fs-fuse's format) that the kernel makes work
// as fifos and sockets between the processes of one host, and device
// nodes that a nodev mount never opens as devices.
const (
	File Kind = iota
	Dir
	Symlink
	Fifo
	Socket
	CharDev
	BlockDev
)

// The file type bits of st_mode (as on Linux, and as s3fs-fuse writes
// them).
const (
	typeMask     = 0o170000
	typeFifo     = 0o010000
	typeCharDev  = 0o020000
	typeDir      = 0o040000
	typeBlockDev = 0o060000
	typeFile     = 0o100000
	typeSymlink  = 0o120000
	typeSocket   = 0o140000
)

// TypeBits returns k's file type bits of st_mode (S_IFREG, S_IFDIR,
// S_IFLNK, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK).
func (k Kind) TypeBits() uint32 {
	switch k {
	case Dir:
		return typeDir
	case Symlink:
		return typeSymlink
	case Fifo:
		return typeFifo
	case Socket:
		return typeSocket
	case CharDev:
		return typeCharDev
	case BlockDev:
		return typeBlockDev
	}
	return typeFile
}

// Special reports whether k is a fifo, a socket or a device node.
func (k Kind) Special() bool { return k >= Fifo }

// IsDevice reports whether k is a character or block device node, whose
// device number is stored.
func (k Kind) IsDevice() bool { return k == CharDev || k == BlockDev }

// KindOfMode is the kind of an object that is not a directory marker and
// whose mode metadata is mode: a directory's type bits there make a file.
func KindOfMode(mode uint32) Kind {
	switch mode & typeMask {
	case typeSymlink:
		return Symlink
	case typeFifo:
		return Fifo
	case typeSocket:
		return Socket
	case typeCharDev:
		return CharDev
	case typeBlockDev:
		return BlockDev
	}
	return File
}

func (k Kind) String() string {
	switch k {
	case Dir:
		return "directory"
	case Symlink:
		return "symlink"
	case Fifo:
		return "fifo"
	case Socket:
		return "socket"
	case CharDev:
		return "character device"
	case BlockDev:
		return "block device"
	}
	return "file"
}

// The user-metadata names of the attributes (see the package doc).
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

// Attrs are the attributes an object's metadata carries.
type Attrs struct {
	Kind     Kind
	Perm     uint32 // permission bits (07777)
	UID, GID uint32
	Mtime    time.Time
	// Ctime is the last change of content or metadata; Atime an access
	// time set explicitly. Zero ones are not stored (mtime stands for them).
	Ctime, Atime time.Time
	Rdev         uint32 // the device number of a device node
}

// Metadata encodes a as user metadata.
func (a Attrs) Metadata() map[string]string {
	m := map[string]string{
		metaMode:  strconv.FormatUint(uint64(a.Kind.TypeBits()|a.Perm&0o7777), 10),
		metaUID:   strconv.FormatUint(uint64(a.UID), 10),
		metaGID:   strconv.FormatUint(uint64(a.GID), 10),
		metaMtime: strconv.FormatInt(a.Mtime.Unix(), 10),
	}
	if ns := a.Mtime.Nanosecond(); ns != 0 {
		m[metaMtimeNsec] = strconv.Itoa(ns)
	}
	putTime(m, metaCtime, metaCtimeNsec, a.Ctime)
	putTime(m, metaAtime, metaAtimeNsec, a.Atime)
	if a.Kind.IsDevice() {
		m[metaRdev] = strconv.FormatUint(uint64(a.Rdev), 10)
	}
	return m
}

// putTime stores t as epoch seconds under key and its nanoseconds under
// nsecKey, as s3fs-fuse does; a zero t is not stored.
func putTime(m map[string]string, key, nsecKey string, t time.Time) {
	if t.IsZero() {
		return
	}
	m[key] = strconv.FormatInt(t.Unix(), 10)
	if ns := t.Nanosecond(); ns != 0 {
		m[nsecKey] = strconv.Itoa(ns)
	}
}

// DecodeAttrs reads the attributes in meta over def, the attributes of an
// object without metadata: what is missing or does not parse keeps def's
// value. def.Kind is the kind the key says (Dir for a key ending in "/",
// else File); for any other key the mode's type bits tell the kind
// (KindOfMode).
func DecodeAttrs(meta map[string]string, def Attrs) Attrs {
	a := def
	if mode, ok := parseUint32(meta[metaMode]); ok {
		a.Perm = mode & 0o7777
		if def.Kind != Dir {
			a.Kind = KindOfMode(mode)
		}
	}
	if v, ok := parseUint32(meta[metaUID]); ok {
		a.UID = v
	}
	if v, ok := parseUint32(meta[metaGID]); ok {
		a.GID = v
	}
	if t, ok := parseMtime(meta[metaMtime], meta[metaMtimeNsec]); ok {
		a.Mtime = t
	}
	if t, ok := parseMtime(meta[metaCtime], meta[metaCtimeNsec]); ok {
		a.Ctime = t
	}
	if t, ok := parseMtime(meta[metaAtime], meta[metaAtimeNsec]); ok {
		a.Atime = t
	}
	if v, ok := parseUint32(meta[metaRdev]); ok && a.Kind.IsDevice() {
		a.Rdev = v
	}
	return a
}

func parseUint32(s string) (uint32, bool) {
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 32)
	return uint32(v), err == nil
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

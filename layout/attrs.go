package layout

import (
	"math"
	"strconv"
	"time"
)

// Kind is the file type of an entry.
type Kind uint8

// The kinds. A key ending in "/" is a directory; any other key is a file,
// or a symlink when its mode says so.
const (
	File Kind = iota
	Dir
	Symlink
)

// The file type bits of st_mode (as on Linux, and as s3fs-fuse writes
// them).
const (
	typeMask    = 0o170000
	typeDir     = 0o040000
	typeFile    = 0o100000
	typeSymlink = 0o120000
)

// TypeBits returns k's file type bits of st_mode (S_IFREG, S_IFDIR,
// S_IFLNK).
func (k Kind) TypeBits() uint32 {
	switch k {
	case Dir:
		return typeDir
	case Symlink:
		return typeSymlink
	}
	return typeFile
}

func (k Kind) String() string {
	switch k {
	case Dir:
		return "directory"
	case Symlink:
		return "symlink"
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
)

// Attrs are the attributes an object's metadata carries.
type Attrs struct {
	Kind     Kind
	Perm     uint32 // permission bits (07777)
	UID, GID uint32
	Mtime    time.Time
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
	return m
}

// DecodeAttrs reads the attributes in meta over def, the attributes of an
// object without metadata: what is missing or does not parse keeps def's
// value. def.Kind is the kind the key says (Dir for a key ending in "/",
// else File); a file whose mode has the symlink type is a Symlink.
func DecodeAttrs(meta map[string]string, def Attrs) Attrs {
	a := def
	if mode, ok := parseUint32(meta[metaMode]); ok {
		a.Perm = mode & 0o7777
		if def.Kind != Dir && mode&typeMask == typeSymlink {
			a.Kind = Symlink
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

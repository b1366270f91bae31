package s3fs

import (
	"strings"
	"sync"
	"syscall"

	"github.com/s3vol/s3vol/layout"
	"github.com/s3vol/s3vol/store"
)

// maxNameLen is the longest file name served (NAME_MAX).
const maxNameLen = 255

// validName reports whether a name taken from a key can be a directory
// entry. Keys with empty components (a//b), "." or ".." components, names
// over 255 bytes or NUL bytes are hidden: they cannot be a path, and
// following them could step outside the mounted prefix.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) <= maxNameLen &&
		!strings.ContainsAny(name, "/\x00")
}

// checkName validates a name the kernel asks us to create or look up.
// The kernel never sends "/" or NUL; it does send names longer than we
// accept.
func checkName(name string) syscall.Errno {
	if len(name) > maxNameLen {
		return syscall.ENAMETOOLONG
	}
	if !validName(name) {
		return syscall.EINVAL
	}
	return 0
}

// fileKey is the object key of the file or symlink at path rel ("a/b").
func (f *fsys) fileKey(rel string) string { return layout.FileKey(f.opts.Prefix, rel) }

// dirPrefix is the key prefix of the entries of directory rel; for the
// root it is the mount's prefix. The directory's marker object has this
// very key.
func (f *fsys) dirPrefix(rel string) string { return layout.DirKey(f.opts.Prefix, rel) }

// keyFits reports whether a path's key stays within S3's key length; the
// "/" of a directory marker counts.
func (f *fsys) keyFits(rel string) bool {
	return len(f.opts.Prefix)+len(rel)+1 <= store.MaxKeyLen
}

// joinPath appends name to the directory path dir.
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// oddKeys logs each hidden key once, so a bucket full of them does not
// flood the log; it remembers a bounded number of keys.
type oddKeys struct {
	mu   sync.Mutex
	seen map[string]bool
}

const maxOddKeysRemembered = 10000

func (o *oddKeys) report(f *fsys, key, why string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen[key] {
		return
	}
	if o.seen == nil || len(o.seen) >= maxOddKeysRemembered {
		o.seen = make(map[string]bool)
	}
	o.seen[key] = true
	f.log.WithFields(map[string]any{"key": key, "reason": why}).
		Warn("hiding an object whose key cannot be a path")
}

// Package mountpath decides where in a container an s3vol volume may be
// mounted.
//
// Docker never tells a volume driver the container path of a mount, so the
// rule is enforced by s3vol's authorization plugin (package authz), which
// calls Check on every container path of an s3vol volume mount.
//
// The rules work on path components, not on string prefixes: "//proc" is
// caught as /proc, "/procfoo" is a different directory and is allowed, and
// "/etc/../etc" is refused for its relative component before any question of
// where it leads.
package mountpath

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxLen is the longest container path accepted, in bytes: Linux's PATH_MAX
// (4096) counts the terminating NUL, so a usable path has at most 4095 bytes.
const MaxLen = 4095

// SystemDirs are the top-level directories an s3vol volume may not be
// mounted at or under: mounting over them would hide or replace what the
// container's kernel interfaces, devices, boot files, configuration,
// programs and libraries need.
var SystemDirs = []string{"/proc", "/sys", "/dev", "/boot", "/etc", "/bin", "/sbin", "/lib", "/lib64"}

// The rules. An *Error unwraps to exactly one of them, so callers can tell
// them apart with errors.Is.
var (
	ErrEmpty       = errors.New("the path is empty")
	ErrNUL         = errors.New("the path contains a NUL byte")
	ErrTooLong     = errors.New("the path is too long")
	ErrNotAbsolute = errors.New("the path is not absolute")
	ErrRoot        = errors.New("the path is the root directory")
	ErrRelative    = errors.New("the path has a relative component")
	ErrDoubleSlash = errors.New("the path has consecutive slashes")
	ErrSystemDir   = errors.New("the path is at or under a system directory")
)

// Error says which rule a container path breaks, in words for a Docker user.
type Error struct {
	Path   string // the container path as given
	Rule   error  // one of the Err* rules above
	Reason string // what exactly is wrong and what is accepted
}

func (e *Error) Error() string {
	return fmt.Sprintf("mount path %s is not allowed: %s", quote(e.Path), e.Reason)
}

// Unwrap returns the rule, for errors.Is.
func (e *Error) Unwrap() error { return e.Rule }

// Check returns nil if containerPath is an acceptable place to mount an
// s3vol volume in a container, or an *Error naming the first rule it breaks.
func Check(p string) error {
	if err := checkBytes(p); err != nil {
		return err
	}
	if !strings.HasPrefix(p, "/") {
		return refuse(p, ErrNotAbsolute, "it must be absolute, starting with /, for example /data")
	}
	if p == "/" || p == "//" {
		return refuse(p, ErrRoot, "it is the container's root directory; mount the volume at a directory such as /data")
	}
	components := split(p)
	if err := checkComponents(p, components); err != nil {
		return err
	}
	return checkSystemDir(p, components[0])
}

// checkBytes applies the rules that look at the raw string.
func checkBytes(p string) error {
	switch {
	case p == "":
		return refuse(p, ErrEmpty, "it is empty; give an absolute directory such as /data")
	case strings.IndexByte(p, 0) >= 0:
		return refuse(p, ErrNUL, "it contains a NUL byte, which no Linux path can hold")
	case len(p) > MaxLen:
		return refuse(p, ErrTooLong, fmt.Sprintf("it is %d bytes long; Linux accepts at most %d (PATH_MAX)", len(p), MaxLen))
	}
	return nil
}

// split returns the components of an absolute path after the leading "/" or
// the one allowed leading "//". A trailing slash yields a last empty
// component, which checkComponents accepts.
func split(p string) []string {
	rest := strings.TrimPrefix(p, "/")
	if strings.HasPrefix(rest, "/") && !strings.HasPrefix(rest, "//") {
		rest = rest[1:] // the allowed leading "//"
	}
	return strings.Split(rest, "/")
}

// checkComponents refuses "." and ".." components and empty components
// (consecutive slashes); only the last component may be empty, for a
// trailing slash such as "/data/".
func checkComponents(p string, components []string) error {
	for i, c := range components {
		switch {
		case c == "." || c == "..":
			return refuse(p, ErrRelative, fmt.Sprintf("it contains the relative component %q; write the path without . or .. components, for example /data", c))
		case c == "" && i < len(components)-1:
			return refuse(p, ErrDoubleSlash, "it contains consecutive slashes (//) after its start; separate directories with one slash, for example /data/app")
		}
	}
	return nil
}

// checkSystemDir refuses a path whose first component names a system
// directory: the path is that directory or lies under it.
func checkSystemDir(p, first string) error {
	for _, dir := range SystemDirs {
		if first != dir[1:] {
			continue
		}
		where := "it lies under the system directory " + dir
		if isDir(p, dir) {
			where = "it is the system directory " + dir
		}
		return refuse(p, ErrSystemDir, where+"; s3vol volumes may not be mounted at or under "+strings.Join(SystemDirs, ", "))
	}
	return nil
}

// isDir reports whether p names dir itself (with an optional leading extra
// slash and trailing slash) rather than something under it.
func isDir(p, dir string) bool {
	p = strings.TrimSuffix(p, "/")
	return p == dir || p == "/"+dir
}

func refuse(p string, rule error, reason string) *Error {
	return &Error{Path: p, Rule: rule, Reason: reason}
}

// quote quotes a path for a message, shortening a very long one (counting
// its escaped form) so the message stays readable.
func quote(p string) string {
	const keep = 80 // bytes of quoted text kept from a long path
	width, i := 0, 0
	for i < len(p) {
		_, size := utf8.DecodeRuneInString(p[i:])
		w := len(strconv.Quote(p[i:i+size])) - 2
		if width+w > keep {
			return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(p[:i]), len(p))
		}
		width += w
		i += size
	}
	return strconv.Quote(p)
}

package s3fs

import (
	"context"
	"errors"
	"os"
	"syscall"

	"github.com/s3vol/s3vol/s3fs/content"
	"github.com/s3vol/s3vol/store"
)

// toErrno maps an error from the store or the local disk to the errno the
// caller sees.
func toErrno(err error) syscall.Errno {
	var errno syscall.Errno
	var storeErr *store.Error
	switch {
	case err == nil:
		return 0
	case errors.Is(err, content.ErrNeedStaging):
		return syscall.EIO
	case errors.Is(err, store.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, store.ErrAccessDenied):
		return syscall.EACCES
	case errors.Is(err, store.ErrNoSpace):
		return syscall.ENOSPC
	case errors.Is(err, store.ErrInvalidArgument), errors.Is(err, store.ErrInvalidRange):
		return syscall.EINVAL
	case errors.Is(err, store.ErrNotSupported):
		return syscall.EOPNOTSUPP
	case errors.As(err, &storeErr):
		// A network failure wraps the socket's errno (ECONNREFUSED...),
		// which means nothing to a caller of read or write.
		return syscall.EIO
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.As(err, &errno):
		return errno
	case errors.Is(err, os.ErrNotExist):
		return syscall.ENOENT
	}
	return syscall.EIO
}

// fail logs a failed store operation and returns its errno. Expected
// outcomes (a missing key, an interrupted call) are not logged as errors.
func (f *fsys) fail(op, path string, err error) syscall.Errno {
	e := toErrno(err)
	if e != syscall.ENOENT && e != syscall.EINTR {
		f.log.WithFields(map[string]any{"op": op, "path": path, "errno": e.Error()}).
			WithError(err).Error("s3fs operation failed")
	}
	return e
}

// minioNameMax is the longest name MinIO stores as a directory: it
// refuses longer ones (up to NAME_MAX) as invalid, because of its own
// on-disk layout.
const minioNameMax = 246

// failName is fail for a store call that created or moved an entry named
// name: a store that refuses a name longer than it can hold as invalid
// (MinIO, see minioNameMax) answers ENAMETOOLONG, as a filesystem with a
// shorter NAME_MAX would.
func (f *fsys) failName(op, path, name string, err error) syscall.Errno {
	if errors.Is(err, store.ErrInvalidArgument) && len(name) > minioNameMax {
		return syscall.ENAMETOOLONG
	}
	return f.fail(op, path, err)
}

package s3fs

import (
	"syscall"

	"github.com/s3vol/s3vol/store"
)

// checkSize refuses, up front, a file size the store cannot hold (S3's
// largest object): EFBIG from the truncate or write that asks for it,
// rather than a size that stat shows and no close can ever store.
func checkSize(size int64) syscall.Errno {
	if size < 0 || size > store.MaxObjectSize {
		return syscall.EFBIG
	}
	return 0
}

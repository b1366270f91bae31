package store

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// CheckKey rejects, as ErrInvalidArgument, a key that S3 itself refuses:
// empty, longer than MaxKeyLen bytes, or not UTF-8. Backends call it before
// any work, so every backend refuses the same keys with the same message.
func CheckKey(op, key string) error {
	switch {
	case key == "":
		return NewError(op, key, ErrInvalidArgument, errors.New("empty key: keys are 1 to 1024 bytes of UTF-8"))
	case len(key) > MaxKeyLen:
		return NewError(op, key[:64]+"...", ErrInvalidArgument,
			fmt.Errorf("key of %d bytes: keys are 1 to %d bytes of UTF-8", len(key), MaxKeyLen))
	case !utf8.ValidString(key):
		return NewError(op, key, ErrInvalidArgument, errors.New("key is not valid UTF-8"))
	}
	return nil
}

// CheckPart rejects, as ErrInvalidArgument, a part number outside
// 1..MaxParts or a part of unknown size: the rules every backend's
// Multipart.UploadPart applies before any work.
func CheckPart(key string, n int, size int64) error {
	if n < 1 || n > MaxParts {
		return NewError("multipart", key, ErrInvalidArgument,
			fmt.Errorf("part number %d: parts are numbered 1 to %d", n, MaxParts))
	}
	if size < 0 {
		return NewError("multipart", key, ErrInvalidArgument,
			fmt.Errorf("part %d has no size: a part's size must be known", n))
	}
	return nil
}

// CheckCopyPart applies CheckPart's rules to a part copied from src, and
// rejects a source key that could not exist or an empty or negative range.
func CheckCopyPart(key string, n int, src string, offset, length int64) error {
	if err := CheckPart(key, n, length); err != nil {
		return err
	}
	if err := CheckKey("multipart", src); err != nil {
		return err
	}
	if offset < 0 || length < 1 {
		return NewError("multipart", key, ErrInvalidArgument,
			fmt.Errorf("part %d: cannot copy %d bytes from offset %d of %q: the range must start at 0 or later and hold at least one byte", n, length, offset, src))
	}
	return nil
}

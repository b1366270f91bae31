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

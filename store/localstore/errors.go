package localstore

import (
	"context"
	"errors"
	"io/fs"
	"syscall"

	"github.com/s3vol/s3vol/store"
)

// wrapErr turns a local failure into a *store.Error of the right kind; an
// error that already is one passes through.
func wrapErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var se *store.Error
	if errors.As(err, &se) {
		return err
	}
	return store.NewError(op, key, kindOf(err), err)
}

// kindOf classifies an error from the local filesystem.
func kindOf(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return store.ErrNotFound
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return store.ErrNoSpace
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
		return store.ErrAccessDenied
	case errors.Is(err, syscall.ENAMETOOLONG):
		return store.ErrInvalidArgument
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil
	}
	return nil
}

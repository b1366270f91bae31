package store

import (
	"context"
	"errors"
	"fmt"
)

// IdentifiedUpload is implemented by the Multipart uploads of backends that
// can name an upload, so that it can be aborted later, from another
// process, with UploadAborter (both backends do). Wrappers forward it.
type IdentifiedUpload interface {
	// UploadID is the store's id of the upload (S3's UploadId).
	UploadID() string
}

// UploadAborter is implemented by stores that can abort one multipart
// upload by its key and id, e.g. an upload started by a process that died
// (both backends do). Aborting an upload that is gone (completed or
// aborted), or by the id of another key's upload, does nothing: it yields
// ErrNotFound or succeeds, depending on the server (MinIO succeeds).
type UploadAborter interface {
	AbortUpload(ctx context.Context, key, uploadID string) error
}

// UploadID returns the id of mp, or "" when its store cannot name it.
func UploadID(mp Multipart) string {
	if u, ok := mp.(IdentifiedUpload); ok {
		return u.UploadID()
	}
	return ""
}

// AbortUpload aborts the upload id of key in st; ErrNotSupported when st
// cannot abort an upload by its id.
func AbortUpload(ctx context.Context, st Store, key, id string) error {
	if a, ok := st.(UploadAborter); ok {
		return a.AbortUpload(ctx, key, id)
	}
	return NewError("abort-upload", key, ErrNotSupported,
		fmt.Errorf("%s cannot abort an upload by its id", st))
}

// errNoUploadID is the cause of an abort by an empty id.
var errNoUploadID = errors.New("no upload id given")

// CheckUploadID rejects an empty upload id before any request is made.
func CheckUploadID(key, id string) error {
	if id == "" {
		return NewError("abort-upload", key, ErrInvalidArgument, errNoUploadID)
	}
	return CheckKey("abort-upload", key)
}

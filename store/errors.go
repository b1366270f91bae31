package store

import (
	"errors"
	"fmt"
)

// The kinds of failure a Store reports. Every error a backend returns wraps
// exactly one of them (through *Error), or none for a failure that fits no
// kind (a local disk error, a malformed reply).
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNoBucket: the bucket itself does not exist. It is not an
	// ErrNotFound: a missing bucket must never read as an empty one (an
	// empty registry would make Docker fall back to local volumes).
	ErrNoBucket = errors.New("bucket does not exist")
	// ErrPreconditionFailed: an IfMatch/IfNoneMatch condition did not hold.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrAccessDenied: the credentials were refused or lack the permission.
	ErrAccessDenied = errors.New("access denied")
	// ErrUnavailable: the store could not be reached or kept failing after
	// the retries (network error, timeout, 5xx, throttling).
	ErrUnavailable = errors.New("store unavailable")
	// ErrInvalidRange: a Get range starts past the end of the object.
	ErrInvalidRange = errors.New("invalid range")
	// ErrInvalidArgument: the call itself was malformed (empty or too long
	// key, bad part number, part too small, ...).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNoSpace: the store is out of space or over quota.
	ErrNoSpace = errors.New("no space left in store")
	// ErrNotSupported: the store does not implement the request (S3's
	// NotImplemented), e.g. a service without UploadPartCopy.
	ErrNotSupported = errors.New("not supported by the store")
)

// Error is the error every Store method returns: the operation, the key, the
// kind (one of the Err* values, or nil) and the underlying cause.
type Error struct {
	Op   string // "stat", "get", "put", "copy", "list", "delete", "multipart", ...
	Key  string // the key (or prefix) the call was about
	Kind error  // one of the Err* kinds, or nil
	Err  error  // the cause, as reported by the backend
}

func (e *Error) Error() string {
	msg := e.Op
	if e.Key != "" {
		msg += fmt.Sprintf(" %q", e.Key)
	}
	switch {
	case e.Err != nil && e.Kind != nil && e.Err != e.Kind:
		return fmt.Sprintf("%s: %v: %v", msg, e.Kind, e.Err)
	case e.Err != nil:
		return fmt.Sprintf("%s: %v", msg, e.Err)
	case e.Kind != nil:
		return fmt.Sprintf("%s: %v", msg, e.Kind)
	}
	return msg + ": unknown error"
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// ConnectError says why a store could not be connected. A store that
// connects in the background (the daemon's) fails every call made before
// it is connected with it, wrapped in the call's *Error, so that a message
// can lead with the cause rather than with the call that met it.
//
// It does not unwrap to its cause: the kind of the *Error around it is
// what callers match, and a store that was never reached must not answer
// "not found" to anything.
type ConnectError struct {
	Store string // the store's name, without secrets
	Err   error  // why connecting failed, with what to fix
}

func (e *ConnectError) Error() string { return fmt.Sprintf("not connected to %s: %v", e.Store, e.Err) }

// NewError builds an *Error; backends use it to report a failure.
func NewError(op, key string, kind, err error) error {
	return &Error{Op: op, Key: key, Kind: kind, Err: err}
}

// IsNotFound reports whether err means the key does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsPreconditionFailed reports whether a conditional write or read lost.
func IsPreconditionFailed(err error) bool { return errors.Is(err, ErrPreconditionFailed) }

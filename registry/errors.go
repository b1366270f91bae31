package registry

import (
	"errors"
	"fmt"
)

// The kinds of failure the registry reports. Every error from the registry's
// API wraps at most one of them (test with errors.Is); the error's text is a
// complete, user-facing message that the driver can pass to the docker CLI
// verbatim.
var (
	// ErrInvalid: a name, subpath, option or limit was not acceptable; the
	// message says what is accepted.
	ErrInvalid = errors.New("invalid request")
	// ErrNotFound: no volume or view has that name or id.
	ErrNotFound = errors.New("no such volume")
	// ErrExists: the name is taken by an entry with different options (or of
	// the other kind); the message lists the differences.
	ErrExists = errors.New("already exists")
	// ErrLimitReached: the organization has as many volumes as its limit.
	ErrLimitReached = errors.New("volume limit reached")
	// ErrInUse: a delete was refused because a host holds a lease or views
	// point at the volume; the message names them.
	ErrInUse = errors.New("in use")
	// ErrConflict: the entry changed under the operation (being created or
	// deleted elsewhere), or the index stayed contended beyond the retry
	// bound. Retrying later may succeed.
	ErrConflict = errors.New("conflict")
)

// Error is a registry failure: a kind (one of the Err* values) and the
// user-facing message.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap lets errors.Is match the kind.
func (e *Error) Unwrap() error { return e.Kind }

func errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// crashError is what an operation returns when a test hook simulated a
// crash at a step: the operation stops at once, without any of the cleanup
// a live process would do, exactly as if the process had been killed.
type crashError struct{ step string }

func (e *crashError) Error() string { return "simulated crash at step " + e.step }

func isCrash(err error) bool {
	var c *crashError
	return errors.As(err, &c)
}

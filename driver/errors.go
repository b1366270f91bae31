package driver

import (
	"errors"
	"fmt"

	"github.com/s3vol/s3vol/registry"
	"github.com/s3vol/s3vol/store"
)

// The driver's errors reach the user through the docker CLI, as
// "VolumeDriver.<Method>: <message>": each message says what went wrong and,
// where it can, what to do.

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func notFound(name, org string) error {
	return &registry.Error{Kind: registry.ErrNotFound,
		Msg: fmt.Sprintf("no such volume: %q does not exist in organization %q", name, org)}
}

// userError words a registry or store failure of op on name. The
// registry's own errors are already complete messages; store failures get
// the operation and a hint.
func userError(op, name string, err error) error {
	var rerr *registry.Error
	if errors.As(err, &rerr) {
		return err
	}
	return fmt.Errorf("s3vol could not %s volume %q: %s", op, name, storeHint(err))
}

// mountError words a failed Mount: the step that failed and why.
func mountError(name, step string, err error) error {
	var rerr *registry.Error
	if errors.As(err, &rerr) {
		return err
	}
	return fmt.Errorf("s3vol could not mount volume %q: %s: %s", name, step, storeHint(err))
}

// storeHint leads with what is wrong with the store. A store that is not
// connected (wrong endpoint, keys or bucket at start-up) gives the cause
// of that alone: which call met it does not help the user.
func storeHint(err error) string {
	var ce *store.ConnectError
	switch {
	case errors.As(err, &ce):
		return fmt.Sprintf("s3vol is not connected to the object store (it keeps retrying): %v", ce.Err)
	case errors.Is(err, store.ErrNoBucket):
		return fmt.Sprintf("the object store's bucket does not exist (create it or correct the bucket setting): %v", err)
	case errors.Is(err, store.ErrAccessDenied):
		return fmt.Sprintf("the object store refused the credentials (check S3VOL_CREDENTIALS_FILE or the access keys): %v", err)
	case errors.Is(err, store.ErrUnavailable):
		return fmt.Sprintf("the object store is unreachable; try again once it is back: %v", err)
	case errors.Is(err, store.ErrNoSpace):
		return fmt.Sprintf("the object store is out of space or over quota: %v", err)
	}
	return err.Error()
}

// CannotTellError is the answer to Get or Path when the driver cannot know
// whether a volume exists: the cache lacks the name and the store has not
// answered (down, wrong bucket, not reached yet since start-up).
//
// Docker must not read it as "no such volume": dockerd's volume lookup
// treats a driver's ordinary errors as "does not exist", forgets the
// volume and lets `docker run -v name:/path` create a LOCAL volume of that
// name. It stops only on transport errors (net.Error), so the protocol
// layer answers this error with one (see Register).
type CannotTellError struct {
	Name string
	Err  error
}

func (e *CannotTellError) Error() string {
	what := fmt.Sprintf("volume %q", e.Name)
	if e.Name == "" {
		// dockerd's plugin client re-sends a request's body reader on
		// retries, already drained: every retry of a Get names nothing.
		what = "the volume"
	}
	return fmt.Sprintf("s3vol cannot tell whether %s exists: %s; retry once the object store answers",
		what, storeHint(e.Err))
}

func (e *CannotTellError) Unwrap() error { return e.Err }

func (d *Driver) cannotTell(name string, why error) error {
	return &CannotTellError{Name: name, Err: why}
}

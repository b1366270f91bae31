package s3store

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/minio/minio-go/v7"

	"github.com/s3vol/s3vol/store"
)

// kindsByCode maps S3 error codes to store kinds.
var kindsByCode = map[string]error{
	"NoSuchKey":    store.ErrNotFound,
	"NoSuchBucket": store.ErrNoBucket,
	"NoSuchUpload": store.ErrNotFound,

	"PreconditionFailed": store.ErrPreconditionFailed,
	// AWS answers 409 to a conditional write that raced another; the write
	// did not happen, which is what a lost condition means to the caller.
	"ConditionalRequestConflict": store.ErrPreconditionFailed,

	"AccessDenied":          store.ErrAccessDenied,
	"InvalidAccessKeyId":    store.ErrAccessDenied,
	"SignatureDoesNotMatch": store.ErrAccessDenied,
	"InvalidToken":          store.ErrAccessDenied,
	"ExpiredToken":          store.ErrAccessDenied,
	"AllAccessDisabled":     store.ErrAccessDenied,
	"AccountProblem":        store.ErrAccessDenied,

	"InvalidRange": store.ErrInvalidRange,

	"SlowDown":                       store.ErrUnavailable,
	"SlowDownRead":                   store.ErrUnavailable,
	"SlowDownWrite":                  store.ErrUnavailable,
	"ServiceUnavailable":             store.ErrUnavailable,
	"InternalError":                  store.ErrUnavailable,
	"RequestTimeout":                 store.ErrUnavailable,
	"XMinioServerNotInitialized":     store.ErrUnavailable,
	"XMinioReadQuorum":               store.ErrUnavailable,
	"XMinioWriteQuorum":              store.ErrUnavailable,
	"XMinioStorageFull":              store.ErrNoSpace,
	"XMinioAdminBucketQuotaExceeded": store.ErrNoSpace,
	"QuotaExceeded":                  store.ErrNoSpace,

	"InvalidArgument":         store.ErrInvalidArgument,
	"InvalidRequest":          store.ErrInvalidArgument,
	"EntityTooSmall":          store.ErrInvalidArgument,
	"EntityTooLarge":          store.ErrInvalidArgument,
	"InvalidPart":             store.ErrInvalidArgument,
	"InvalidPartOrder":        store.ErrInvalidArgument,
	"KeyTooLongError":         store.ErrInvalidArgument,
	"XMinioInvalidObjectName": store.ErrInvalidArgument,
	"MetadataTooLarge":        store.ErrInvalidArgument,
	"MalformedXML":            store.ErrInvalidArgument,

	"NotImplemented": store.ErrNotSupported,
}

// kindOf classifies an error from minio-go.
func kindOf(err error) error {
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		// Network errors, timeouts, refused connections: minio-go already
		// retried them.
		return store.ErrUnavailable
	}
	if kind, ok := kindsByCode[er.Code]; ok {
		return kind
	}
	switch s := er.StatusCode; {
	case s == http.StatusNotFound:
		return store.ErrNotFound
	case s == http.StatusPreconditionFailed:
		return store.ErrPreconditionFailed
	case s == http.StatusForbidden || s == http.StatusUnauthorized:
		return store.ErrAccessDenied
	case s == http.StatusRequestedRangeNotSatisfiable:
		return store.ErrInvalidRange
	case s >= 500 || s == http.StatusTooManyRequests || s == http.StatusRequestTimeout:
		return store.ErrUnavailable
	case s == http.StatusBadRequest:
		return store.ErrInvalidArgument
	}
	return nil
}

// wrapErr turns an error of a call into a *store.Error. parent is the
// caller's context and call the one the request ran with: when the caller
// gave up, the error says so and carries no kind; when our own timeout or
// watchdog ended the call, the store is unavailable.
func wrapErr(op, key string, parent, call context.Context, err error) error {
	if err == nil {
		return nil
	}
	if perr := parent.Err(); perr != nil {
		return store.NewError(op, key, nil, fmt.Errorf("%w (%v)", perr, err))
	}
	if call != nil && call.Err() != nil {
		cause := context.Cause(call)
		if errors.Is(cause, context.DeadlineExceeded) {
			cause = errors.New("request timed out")
		}
		return store.NewError(op, key, store.ErrUnavailable, fmt.Errorf("%w: %v", cause, err))
	}
	kind := kindOf(err)
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.Code != "" {
		err = fmt.Errorf("%s: %w", er.Code, err)
	}
	return store.NewError(op, key, kind, err)
}

// conditionLost rewrites the NotFound of a compare-and-swap on a missing
// object as a failed precondition (the condition did not hold) that still
// matches ErrNotFound.
func conditionLost(err error, opts store.PutOptions) error {
	var se *store.Error
	if opts.IfMatch == "" || !errors.As(err, &se) || se.Kind != store.ErrNotFound {
		return err
	}
	return store.NewError(se.Op, se.Key, store.ErrPreconditionFailed, err)
}

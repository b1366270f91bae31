package s3store

import (
	"context"
	"net/http"
	"reflect"
	"sync"
)

// retryCounter recognises the retries minio-go makes on its own: an
// attempt with the same context, method and URL as an earlier attempt that
// failed the way minio-go retries (no response, a 5xx, throttling).
// minio-go re-sends a request from one call's context, so those three tell
// a retry from a new call; Config.OnRetry hears of each.
type retryCounter struct {
	onRetry func()
	mu      sync.Mutex
	failed  map[retryKey]struct{}
}

type retryKey struct {
	ctx         context.Context
	method, url string
}

// maxTrackedFailures bounds the failed attempts remembered: each is
// forgotten at its retry or when its context ends, and a context that never
// ends cannot make the map grow without end.
const maxTrackedFailures = 4096

// observe is told of each attempt and its outcome.
func (r *retryCounter) observe(req *http.Request, resp *http.Response, err error) {
	if r == nil || r.onRetry == nil {
		return
	}
	ctx := req.Context()
	if !reflect.TypeOf(ctx).Comparable() {
		return
	}
	key := retryKey{ctx: ctx, method: req.Method, url: req.URL.String()}
	retryable := err != nil || resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
	r.mu.Lock()
	_, isRetry := r.failed[key]
	delete(r.failed, key)
	if retryable && ctx.Err() == nil {
		if r.failed == nil || len(r.failed) >= maxTrackedFailures {
			r.failed = map[retryKey]struct{}{}
		}
		r.failed[key] = struct{}{}
		context.AfterFunc(ctx, func() { r.forget(key) })
	}
	r.mu.Unlock()
	if isRetry {
		r.onRetry()
	}
}

func (r *retryCounter) forget(key retryKey) {
	r.mu.Lock()
	delete(r.failed, key)
	r.mu.Unlock()
}

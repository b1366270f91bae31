package observe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/s3vol/s3vol/store"
)

// Check is one named health probe. Probe must honour its context; one that
// does not is still given up on at the deadline (see Health).
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// Health answers whether the daemon can do its work, from its checks.
// Answers are cached for CacheFor, so a busy scraper costs one probe a
// second, and concurrent requests share the probe in flight. A probe is
// given up on after Timeout: a request never waits longer than that, even
// for a probe that ignores its context.
type Health struct {
	checks   []Check
	timeout  time.Duration
	cacheFor time.Duration
	now      func() time.Time

	mu       sync.Mutex
	last     error     // the last answer; nil is healthy
	lastAt   time.Time // when it was found; zero before the first probe
	inflight chan struct{}
}

// Health defaults.
const (
	DefaultHealthTimeout = 2 * time.Second
	DefaultHealthCache   = time.Second
)

// NewHealth returns a Health over checks, with the default timeout and
// cache time.
func NewHealth(checks ...Check) *Health {
	return &Health{checks: checks, timeout: DefaultHealthTimeout, cacheFor: DefaultHealthCache, now: time.Now}
}

// Check returns nil when every check passes, else an error naming each
// failed check and why. It waits at most the timeout, or until ctx ends.
func (h *Health) Check(ctx context.Context) error {
	h.mu.Lock()
	if !h.lastAt.IsZero() && h.now().Sub(h.lastAt) < h.cacheFor {
		defer h.mu.Unlock()
		return h.last
	}
	done := h.inflight
	if done == nil {
		done = make(chan struct{})
		h.inflight = done
		go h.probe(done)
	}
	h.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("health check: %w", ctx.Err())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// probe runs every check at once, each bounded by the timeout, records
// the answer and closes done.
func (h *Health) probe(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	errs := make([]error, len(h.checks))
	var wg sync.WaitGroup
	for i, c := range h.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = runCheck(ctx, c, h.timeout)
		}()
	}
	wg.Wait()
	err := errors.Join(errs...)
	h.mu.Lock()
	h.last, h.lastAt, h.inflight = err, h.now(), nil
	h.mu.Unlock()
	close(done)
}

// runCheck runs one check, giving up when ctx ends even if the probe does
// not return (its goroutine is then left to finish on its own).
func runCheck(ctx context.Context, c Check, timeout time.Duration) error {
	res := make(chan error, 1)
	go func() { res <- c.Probe(ctx) }()
	select {
	case err := <-res:
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: no answer within %v", c.Name, timeout)
	}
}

// ServeHTTP answers 200 "ok" when healthy, else 503 with the reasons, one
// line per failed check.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := h.Check(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "unhealthy\n%s\n", strings.TrimSpace(err.Error()))
		return
	}
	fmt.Fprintln(w, "ok")
}

// probeKey is the key the store check asks about; it need not exist.
const probeKey = "s3vol-healthz-probe"

// StoreCheck checks that st answers: a HEAD of a key that need not exist,
// so "not found" is an answer too. A failure says what is wrong: not
// connected (and why), the bucket missing, the keys refused, or no answer.
func StoreCheck(name string, st store.Store) Check {
	return Check{Name: name, Probe: func(ctx context.Context) error {
		_, err := st.Stat(ctx, probeKey)
		var ce *store.ConnectError
		switch {
		case err == nil || errors.Is(err, store.ErrNotFound):
			return nil
		case errors.As(err, &ce):
			return fmt.Errorf("%s: not connected: %v", st, ce.Err)
		case errors.Is(err, store.ErrNoBucket):
			return fmt.Errorf("%s: the bucket does not exist: %w", st, err)
		case errors.Is(err, store.ErrAccessDenied):
			return fmt.Errorf("%s refused the credentials: %w", st, err)
		}
		return fmt.Errorf("%s does not answer: %w", st, err)
	}}
}

package s3store

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// errStalled is the cause of a call the watchdog ended.
var errStalled = errors.New("no progress within the request timeout")

// deadlineTransport gives a request without a deadline one of its own, so
// that no request, even one minio-go issues with context.Background(), can
// hang forever. The deadline covers reading the response body too.
type deadlineTransport struct {
	base    http.RoundTripper
	timeout time.Duration
}

func (t *deadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, ok := req.Context().Deadline(); ok {
		return t.base.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// watchdog cancels a context when it is not kicked for a while: calls that
// move data are bounded by their progress, not by their total duration.
type watchdog struct {
	d      time.Duration
	timer  *time.Timer
	cancel context.CancelCauseFunc
}

func newWatchdog(ctx context.Context, d time.Duration) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{d: d, cancel: cancel}
	w.timer = time.AfterFunc(d, func() { cancel(errStalled) })
	return ctx, w
}

// kick restarts the countdown.
func (w *watchdog) kick() { w.timer.Reset(w.d) }

// pause stops the countdown until the next kick.
func (w *watchdog) pause() { w.timer.Stop() }

// stop ends the watchdog and its context.
func (w *watchdog) stop() {
	w.timer.Stop()
	w.cancel(context.Canceled)
}

// getBody is a Get's response stream: each Read must make progress within
// the timeout (an idle reader between reads costs nothing), read errors
// become store errors, and Close releases the request.
type getBody struct {
	body   io.ReadCloser
	w      *watchdog
	mapErr func(error) error
	once   sync.Once
}

func (g *getBody) Read(b []byte) (int, error) {
	g.w.kick()
	n, err := g.body.Read(b)
	g.w.pause()
	if err != nil && err != io.EOF {
		err = g.mapErr(err)
	}
	return n, err
}

func (g *getBody) Close() error {
	err := g.body.Close()
	g.once.Do(g.w.stop)
	return err
}

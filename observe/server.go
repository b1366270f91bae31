package observe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/sirupsen/logrus"
)

// Handler routes /metrics and /healthz, and every other path to root (the
// dashboard); with root nil, any other path is not found.
func Handler(m *Metrics, h *Health, root http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("GET /healthz", h)
	if root != nil {
		mux.Handle("/", root)
	}
	return mux
}

// Timeouts of the listener: a client that is slow or stalls cannot hold a
// connection (or the daemon's shutdown) for long.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 64 << 10
)

// Serve listens on addr (host:port) and serves h until shutdown is called,
// which stops accepting and waits, bounded by its context, for the
// requests in flight. A listener that cannot start is an error at once.
func Serve(addr string, h http.Handler, log *logrus.Logger) (shutdown func(ctx context.Context) error, bound net.Addr, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listening on %s for metrics and health: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("the metrics and health listener stopped serving")
		}
	}()
	return func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		<-done
		return err
	}, ln.Addr(), nil
}

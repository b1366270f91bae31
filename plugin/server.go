package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/docker/go-plugins-helpers/sdk"
	"github.com/sirupsen/logrus"
)

// protocol is one plugin protocol served on the socket: the name
// /Plugin.Activate reports for it and what routes its calls.
type protocol struct {
	implements string
	register   func(*http.ServeMux)
}

// pluginMux serves protocols on one mux, and owns /Plugin.Activate: it
// lists exactly the protocols registered, so the manifest cannot name
// what is not served nor miss what is. Calls of unknown methods get an
// error naming them.
func pluginMux(protocols []protocol, log *logrus.Logger) http.Handler {
	mux := http.NewServeMux()
	implements := make([]string, len(protocols))
	for i, p := range protocols {
		p.register(mux)
		implements[i] = p.implements
	}
	manifest, _ := json.Marshal(map[string][]string{"Implements": implements})
	mux.HandleFunc("/Plugin.Activate", func(w http.ResponseWriter, r *http.Request) {
		log.WithField("implements", implements).Debug("plugin activated")
		w.Header().Set("Content-Type", sdk.DefaultContentTypeV1_1)
		w.Write(append(manifest, '\n'))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.WithFields(logrus.Fields{"method": r.Method, "path": r.URL.Path}).Warn("call of an unknown plugin method")
		w.Header().Set("Content-Type", sdk.DefaultContentTypeV1_1)
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"Err": "s3vol does not implement " + r.URL.Path})
	})
	return mux
}

// listenSocket listens on the unix socket at path, replacing a socket file
// left by a previous run that nobody serves any more. It refuses to take
// over a socket another process is still serving.
func listenSocket(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating the socket folder: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		conn, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			conn.Close()
			return nil, fmt.Errorf("socket %s is served by another process (another s3vol?); stop it or set S3VOL_SOCKET", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("probing the existing socket %s: %w", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale socket %s: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	// Only root (dockerd) may call the plugin.
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restricting %s: %w", path, err)
	}
	return ln, nil
}

// serveHTTP serves h on ln until shutdown is called, which stops accepting
// and waits (bounded by ctx) for the calls in flight.
func serveHTTP(ln net.Listener, h http.Handler, log *logrus.Logger) (shutdown func(ctx context.Context) error) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("plugin socket stopped serving")
		}
	}()
	return func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		<-done
		return err
	}
}

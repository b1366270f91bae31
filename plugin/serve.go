package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/authz"
	"github.com/s3vol/s3vol/driver"
	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/observe"
	"github.com/s3vol/s3vol/registry"
	"github.com/s3vol/s3vol/store/journal"
	volusage "github.com/s3vol/s3vol/usage"
)

// Shutdown bounds: the calls in flight, then flushing and unmounting.
const (
	httpShutdownTimeout   = 30 * time.Second
	driverShutdownTimeout = 5 * time.Minute
)

// runServe is `s3vol serve`: the Docker volume plugin daemon. Its logs go
// to stdout, and in the dockerd format (the managed plugin's) its errors to
// stderr: dockerd logs a managed plugin's stderr lines at level error and
// its stdout lines at level info.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, extra, err := parseConfig(newFlagSet("serve", stderr), args)
	if err != nil {
		return err
	}
	if len(extra) > 0 {
		return usageError{fmt.Sprintf("s3vol serve takes no arguments, only flags (got %q); see s3vol help serve", joinArgs(extra))}
	}
	log := newDaemonLogger(cfg, stdout, stderr)
	memLimit := applyMemoryLimit(cfg.Memory)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// One daemon per state folder: before the socket, which listening
	// would take from a running daemon.
	lock, err := lockInstance(cfg, serveInstance)
	if err != nil {
		return err
	}
	defer lock.Unlock()

	// Listen first: Docker disables a plugin whose socket is not up within
	// about ten seconds, and the store may be slow or down.
	ln, err := listenSocket(cfg.Socket)
	if err != nil {
		return err
	}
	defer os.Remove(cfg.Socket)

	d, err := newDaemon(cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	shutdownHTTP := serveHTTP(ln, d.handler(), log)
	shutdownObserve, err := d.serveObserve()
	if err != nil {
		shutdownHTTP(context.Background())
		return err
	}
	log.WithFields(cfg.logFields()).WithFields(logrus.Fields{"version": version, "hostID": d.hostID, "goMemLimit": memLimit}).Info("s3vol serving")
	go d.connect(ctx)
	d.drv.Start()

	<-ctx.Done()
	log.Info("shutting down: refusing new calls, then flushing and unmounting")
	hctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	herr := errors.Join(shutdownHTTP(hctx), shutdownObserve(hctx))
	cancel()
	dctx, cancel := context.WithTimeout(context.Background(), driverShutdownTimeout)
	derr := d.drv.Shutdown(dctx)
	cancel()
	d.reg.Close()
	if err := d.uploads.Close(); err != nil {
		log.WithError(err).Warn("closing the upload journal")
	}
	if err := errors.Join(herr, derr); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	log.Info("s3vol stopped")
	return nil
}

// daemon holds the serving parts of `s3vol serve`.
type daemon struct {
	cfg    *Config
	log    *logrus.Logger
	hostID string
	pool   *bufpool.Pool
	data   *lazyStore
	meta   *lazyStore
	// wake asks connect for an attempt now (a call met the store
	// unconnected); it holds at most one pending request.
	wake chan struct{}
	// uploads journals the multipart uploads of the mounts (over data).
	uploads *journal.Store
	reg     *registry.Registry
	drv     *driver.Driver
	// metrics counts the stores' calls and the leases' heartbeats; they
	// are served only when S3VOL_HTTP_ADDR is set.
	metrics *observe.Metrics
	// usage measures the volumes' sizes in the background, once the
	// store is connected.
	usage *volusage.Scanner
}

// newDaemon builds the registry and the driver over stores that connect in
// the background (see connect); it does no store I/O.
func newDaemon(cfg *Config, log *logrus.Logger) (*daemon, error) {
	hostID, err := cfg.resolveHostID()
	if err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, log: log, hostID: hostID, pool: bufpool.New(cfg.Memory), metrics: observe.New(),
		wake: make(chan struct{}, 1)}
	d.data = newLazyStore(cfg.storeName(cfg.Bucket), d.wake)
	d.meta = d.data
	metaPrefix := MetaPrefix
	if cfg.MetaBucket != "" && cfg.MetaBucket != cfg.Bucket {
		d.meta, metaPrefix = newLazyStore(cfg.storeName(cfg.MetaBucket), d.wake), ""
	}
	// One daemon per host id: a restarted daemon takes over the leases its
	// killed predecessor left.
	rc := cfg.registryConfig(stores{data: d.data, meta: d.meta, metaPrefix: metaPrefix}, hostID, serveInstance, log)
	rc.OnHeartbeat, rc.OnConflict = d.metrics.Heartbeat, d.metrics.Conflict
	d.reg, err = registry.New(rc)
	if err != nil {
		return nil, fmt.Errorf("setting up the registry: %w", err)
	}
	d.uploads, err = openUploadJournal(cfg, d.data, log)
	if err != nil {
		return nil, err
	}
	d.drv, err = driver.New(driver.Config{
		Registry: d.reg, Data: d.uploads, MountRoot: cfg.MountRoot, CacheDir: cfg.CacheDir,
		SnapshotPath: filepath.Join(cfg.StateDir, "registry-"+cfg.Org+".json"),
		Buffers:      d.pool, MetadataTTL: cfg.MetadataTTL, FastListing: cfg.FastListing, MountGrace: cfg.MountGrace,
		OpTimeout: cfg.OpTimeout, CallTimeout: cfg.CallTimeout,
		Logger: log, WrapFS: d.metrics.FUSE, WrapStore: d.metrics.VolumeStore, OnRemoved: d.metrics.Forget,
		AccountBuffers: d.metrics.VolumeBuffers,
		Usage:          func(id string) (registry.Usage, bool) { return d.usage.Get(id) },
		OnUnmounted:    func(id string) { d.usage.Remeasure(id) },
	})
	if err != nil {
		return nil, err
	}
	d.usage, err = volusage.New(volusage.Config{Registry: d.reg, Data: d.data, Entries: d.drv.Entries, Interval: cfg.UsageInterval, Logger: log})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// handler serves the volume driver and, unless disabled, the authorization
// plugin on one socket.
func (d *daemon) handler() http.Handler {
	protocols := []protocol{{driver.ImplementsName, func(mux *http.ServeMux) { driver.Register(mux, d.drv) }}}
	if d.cfg.Authz {
		name := strings.TrimSuffix(filepath.Base(d.cfg.Socket), ".sock")
		p := authz.New(d.drv.Has, d.log, authz.WithDriverName(name), authz.WithUncheckedAllowed(d.cfg.AuthzAllowUnchecked))
		protocols = append(protocols, protocol{authz.ImplementsName, func(mux *http.ServeMux) { authz.Register(mux, p) }})
	}
	return pluginMux(protocols, d.log)
}

// Connection retries: the pause after a failed attempt doubles from the
// first to the last; a call that meets the store unconnected cuts it
// short, but attempts never start closer than minConnectGap. A fixed
// store (bucket made, keys corrected, server back) is used within
// maxConnectBackoff, and at the first call after the fix.
const (
	firstConnectBackoff = 500 * time.Millisecond
	maxConnectBackoff   = 5 * time.Second
	minConnectGap       = 250 * time.Millisecond
	connectTimeout      = 30 * time.Second
)

// connect connects the stores, retrying until it succeeds or the daemon
// stops; the daemon never exits for a store it cannot reach. What is wrong
// (endpoint down, keys refused, bucket missing, TLS mismatch) is logged as
// an error at the first attempt and whenever it changes, and Docker calls
// and /healthz meanwhile fail with it: the operator can fix the store side
// without restarting the plugin.
func (d *daemon) connect(ctx context.Context) {
	backoff := firstConnectBackoff
	var lastCause string
	for attempt := 1; ; attempt++ {
		started := time.Now()
		cctx, cancel := context.WithTimeout(ctx, connectTimeout)
		s, err := openStores(cctx, d.cfg, d.pool, d.metrics.Retry)
		cancel()
		if err == nil {
			d.data.set(d.metrics.Store(s.data))
			if d.meta != d.data {
				d.meta.set(d.metrics.Store(s.meta))
			}
			d.log.WithFields(logrus.Fields{"data": s.data.String(), "meta": s.meta.String(), "attempts": attempt}).Info("connected to the object store")
			go d.sweepUploads(ctx)
			go d.usage.Run(ctx)
			return
		}
		if ctx.Err() != nil {
			return
		}
		d.data.failed(err)
		d.meta.failed(err)
		entry := d.log.WithError(err).WithFields(logrus.Fields{"attempt": attempt, "retryIn": backoff})
		if cause := err.Error(); cause != lastCause || attempt%100 == 0 {
			entry.Error("cannot connect to the object store; Docker calls fail until it answers, retrying")
			lastCause = cause
		} else {
			entry.Debug("still cannot connect to the object store")
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-d.wake:
			timer.Stop()
			if sleepCtx(ctx, minConnectGap-time.Since(started)) != nil {
				return
			}
		}
		backoff = min(backoff*2, maxConnectBackoff)
	}
}

// sleepCtx waits for d (nothing when d <= 0) or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

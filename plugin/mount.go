package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/registry"
	"github.com/s3vol/s3vol/s3fs"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/volmount"
)

type mountFlags struct {
	subpath  *string
	readOnly *bool
}

func addMountFlags(fs *flag.FlagSet) mountFlags {
	return mountFlags{
		subpath:  fs.String("subpath", "", "mount only this folder of the volume, e.g. users/alice"),
		readOnly: fs.Bool("ro", false, "mount read-only"),
	}
}

// runMount is `s3vol mount [--subpath P] [--ro] VOLUME DIR`: one volume (or
// view) mounted without Docker, for debugging and non-Docker hosts. It
// holds a mount lease like the plugin, so the volume cannot be deleted
// while mounted, and on SIGINT or SIGTERM flushes, unmounts and releases.
func runMount(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("mount", stderr)
	mf := addMountFlags(fs)
	cfg, names, err := parseConfig(fs, args)
	if err != nil {
		return err
	}
	if len(names) != 2 {
		return usageError{fmt.Sprintf("s3vol mount takes a volume and a folder, got %q; usage: s3vol mount [--subpath P] [--ro] VOLUME DIR", joinArgs(names))}
	}
	name, dir := names[0], names[1]
	if *mf.subpath != "" {
		if err := registry.ValidateSubpath(*mf.subpath); err != nil {
			return err
		}
	}
	log := newLogger(stderr, cfg.LogLevel)
	applyMemoryLimit(cfg.Memory)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	instance := mountInstance(dir)
	lock, err := lockInstance(cfg, instance)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	reg, st, pool, err := openRegistry(ctx, cfg, log, instance)
	if err != nil {
		return err
	}
	defer reg.Close()
	uploads, err := openUploadJournal(cfg, st.data, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := uploads.Close(); err != nil {
			log.WithError(err).Warn("closing the upload journal")
		}
	}()
	recoverUploads(ctx, cfg, st.data, log)
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	opened, err := volmount.Open(octx, cfg.mountEnv(reg, uploads, pool, log), volmount.Request{
		Name: name, Subpath: *mf.subpath, ReadOnly: *mf.readOnly,
		Mountpoint: func(registry.Entry) (string, error) { return dir, nil },
	})
	cancel()
	if err != nil {
		return fmt.Errorf("mounting %q on %s: %w", name, dir, err)
	}
	m := opened.FS
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := opened.Lease.Release(rctx); err != nil {
			log.WithError(err).Warn("releasing the mount lease (it expires on its own)")
		}
	}()
	prefix := opened.Prefix
	log.WithFields(logrus.Fields{"volume": name, "dir": dir, "prefix": prefix, "store": st.data.String()}).Info("mounted; stop with Ctrl-C (or SIGTERM) to flush and unmount")

	unmounted := make(chan struct{})
	go func() { m.Wait(); close(unmounted) }()
	select {
	case <-ctx.Done():
	case <-unmounted:
		log.Warn("the filesystem was unmounted from outside (fusermount -u or umount)")
	}
	return unmountClean(m, dir, log)
}

// unmountClean flushes and unmounts a standalone mount.
func unmountClean(m *s3fs.Mounted, dir string, log *logrus.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ferr := m.Flush(ctx)
	if ferr != nil {
		log.WithError(ferr).Error("flushing open files")
	}
	uerr := m.Unmount(ctx)
	if uerr != nil {
		log.WithError(uerr).Warn("unmount refused (a process is still using the folder?); detaching lazily")
		if derr := syscall.Unmount(dir, syscall.MNT_DETACH); derr != nil && !errors.Is(derr, syscall.EINVAL) {
			return fmt.Errorf("unmounting %s: %w", dir, errors.Join(uerr, derr))
		}
	}
	if ferr != nil {
		return fmt.Errorf("flushing before unmount: %w", ferr)
	}
	log.WithField("dir", dir).Info("unmounted")
	return nil
}

// openRegistry connects to the stores at once (commands other than serve
// fail fast) and returns the registry over them.
// instance names the process in its lease objects (registry.Config.Instance).
func openRegistry(ctx context.Context, cfg *Config, log *logrus.Logger, instance string) (*registry.Registry, stores, *bufpool.Pool, error) {
	hostID, err := cfg.resolveHostID()
	if err != nil {
		return nil, stores{}, nil, err
	}
	pool := bufpool.New(cfg.Memory)
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	st, err := openStores(cctx, cfg, pool, nil)
	cancel()
	if err != nil {
		return nil, stores{}, nil, err
	}
	reg, err := registry.New(cfg.registryConfig(st, hostID, instance, log))
	if err != nil {
		return nil, stores{}, nil, fmt.Errorf("setting up the registry: %w", err)
	}
	return reg, st, pool, nil
}

// mountInstance names an `s3vol mount` process in its lease objects after
// its mountpoint, so a mount killed and started again on the same folder
// takes over the leases it left, while mounts on other folders keep their
// own.
func mountInstance(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	sum := sha256.Sum256([]byte(dir))
	return "mount-" + hex.EncodeToString(sum[:6])
}

// registryConfig is the registry's configuration over stores st: the one
// place it is built from the settings (the daemon adds its metrics hooks).
func (c *Config) registryConfig(st stores, hostID, instance string, log *logrus.Logger) registry.Config {
	return registry.Config{
		Meta: st.meta, Data: st.data, Prefix: st.metaPrefix, Org: c.Org, HostID: hostID, Instance: instance,
		LeaseTTL: c.LeaseTTL, Logger: logrus.NewEntry(log),
	}
}

// mountEnv is what the mounts of a process share, from the settings: the
// daemon's driver and `s3vol mount` open their mounts with it.
func (c *Config) mountEnv(reg *registry.Registry, data store.Store, pool *bufpool.Pool, log *logrus.Logger) volmount.Env {
	return volmount.Env{
		Registry: reg, Data: data, CacheDir: c.CacheDir, Buffers: pool,
		MetadataTTL: c.MetadataTTL, OpTimeout: c.OpTimeout, FastListing: c.FastListing,
		Logger: log,
	}
}

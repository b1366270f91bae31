// Package volmount opens a registry entry (a volume or a view) as a FUSE
// mount: it takes the entry's mount lease, makes the folder a view or a
// subpath stands on, maps the entry's options to the filesystem's and
// mounts it, writing only while the lease is renewed. The driver (one
// mount per entry, for Docker) and `s3vol mount` both open their mounts
// here, so the two cannot drift apart.
package volmount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/layout"
	"github.com/s3vol/s3vol/registry"
	"github.com/s3vol/s3vol/s3fs"
	"github.com/s3vol/s3vol/store"
)

// Env is what every mount of a process shares.
type Env struct {
	Registry *registry.Registry
	// Data is the data store the registry's prefixes live in.
	Data store.Store
	// CacheDir holds the mounts' staging files, in one folder per entry
	// id.
	CacheDir    string
	Buffers     *bufpool.Pool
	MetadataTTL time.Duration
	OpTimeout   time.Duration
	// FastListing is s3fs.Options.FastListing of every mount.
	FastListing bool
	Logger      logrus.FieldLogger
	// WrapFS, when set, gives the wrapper of a mount's filesystem by the
	// entry's name (s3fs.Options.WrapFS).
	WrapFS func(name string) func(fuse.RawFileSystem) fuse.RawFileSystem
	// WrapStore, when set, gives the wrapper of the data store a mount
	// uses by the entry's name: metrics of its object-store calls, per
	// volume. The registry's calls do not go through it.
	WrapStore func(name string) func(store.Store) store.Store
	// AccountBuffers, when set, gives what a mount's buffers are taken
	// from by the entry's name, given Buffers: an account of it
	// (bufpool.Pool.Account) that counts the volume's share of the memory
	// budget.
	AccountBuffers func(name string) func(*bufpool.Pool) *bufpool.Pool
}

// Request says what to mount and where.
type Request struct {
	Name     string // the volume or view
	Subpath  string // mount only this folder of it ("" = all of it)
	ReadOnly bool   // read-only even when the entry is writable
	// Mountpoint returns the folder to mount on, existing and empty, once
	// the lease says which entry Name is (the driver names its folders
	// after the entry's id).
	Mountpoint func(registry.Entry) (string, error)
}

// Mount is an open mount of an entry.
type Mount struct {
	Entry  registry.Entry // as of the lease's acquisition
	Prefix string         // the key prefix served
	Dir    string         // the mountpoint
	Lease  *registry.Lease
	FS     *s3fs.Mounted
}

// StepError is a failure of one step of Open; Step says which.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// Open takes the lease of req.Name and mounts it. On failure nothing is
// left: the lease is released.
func Open(ctx context.Context, env Env, req Request) (_ *Mount, err error) {
	lease, err := env.Registry.Acquire(ctx, req.Name)
	if err != nil {
		return nil, &StepError{"taking the mount lease", err}
	}
	defer func() {
		if err != nil {
			if rerr := lease.Release(context.WithoutCancel(ctx)); rerr != nil {
				logger(env).WithError(rerr).WithField("volume", req.Name).Warn("releasing the lease of a failed mount")
			}
		}
	}()
	m := &Mount{Entry: lease.Entry(), Lease: lease}
	m.Prefix = layout.SubfolderPrefix(m.Entry.DataPrefix, req.Subpath)
	data := dataStore(env, m.Entry.Name)
	// A view's folder, or the subpath asked for, is created on first
	// mount; a volume's root was written when it was created.
	if m.Entry.Kind == registry.KindView || req.Subpath != "" {
		if err := ensureFolder(ctx, data, m.Prefix, m.Entry.Options.RootAttrs(time.Now())); err != nil {
			return nil, &StepError{"creating the folder " + m.Prefix, err}
		}
	}
	if m.Dir, err = req.Mountpoint(m.Entry); err != nil {
		return nil, &StepError{"preparing the mountpoint", err}
	}
	removeOldCache(env, m.Entry.ID)
	opts := fsOptions(env, m.Entry)
	opts.Store = data
	opts.Prefix = m.Prefix
	opts.ReadOnly = opts.ReadOnly || req.ReadOnly
	// The filesystem writes only while the lease is renewed (fencing).
	opts.Store = lease.Guard(opts.Store)
	if m.FS, err = s3fs.Mount(m.Dir, opts); err != nil {
		return nil, &StepError{"mounting the filesystem", err}
	}
	return m, nil
}

// fsOptions are the filesystem options of entry e: its data prefix, owner,
// modes and read-only flag, and the process's shared settings.
func fsOptions(env Env, e registry.Entry) s3fs.Options {
	mode := os.FileMode(e.Options.Mode & 0o7777)
	if mode == 0 {
		mode = registry.DefaultMode
	}
	var wrap func(fuse.RawFileSystem) fuse.RawFileSystem
	if env.WrapFS != nil {
		wrap = env.WrapFS(e.Name)
	}
	return s3fs.Options{
		WrapFS:      wrap,
		Store:       env.Data,
		Prefix:      e.DataPrefix,
		ReadOnly:    e.ReadOnly(),
		UID:         e.Options.UID,
		GID:         e.Options.GID,
		DirMode:     mode,
		FileMode:    mode &^ 0o111,
		MetadataTTL: env.MetadataTTL,
		OpTimeout:   env.OpTimeout,
		FastListing: env.FastListing,
		CacheDir:    cacheFolder(env.CacheDir, e.ID),
		Buffers:     buffers(env, e.Name),
		Logger:      logger(env).WithFields(logrus.Fields{"volume": e.Name, "id": e.ID}),
	}
}

// dataStore is the data store the mount of the entry named name uses:
// env.Data, wrapped by env.WrapStore when set.
func dataStore(env Env, name string) store.Store {
	if env.WrapStore == nil {
		return env.Data
	}
	return env.WrapStore(name)(env.Data)
}

// buffers is the memory budget the mount of the entry named name draws
// from: env.Buffers, or its account by env.AccountBuffers when set.
func buffers(env Env, name string) *bufpool.Pool {
	if env.AccountBuffers == nil || env.Buffers == nil {
		return env.Buffers
	}
	return env.AccountBuffers(name)(env.Buffers)
}

// cacheFolder is the staging folder of the mounts of the entry with that
// id under cacheDir.
func cacheFolder(cacheDir, id string) string { return filepath.Join(cacheDir, id) }

// removeOldCache removes the staging folder `s3vol mount` used before it
// shared the driver's (<cache>/mount-<id>). Staging files are unlinked as
// soon as they are made, so all it can hold is an empty folder, or a file
// a killed process made and had no time to unlink.
func removeOldCache(env Env, id string) {
	old := filepath.Join(env.CacheDir, "mount-"+id)
	if err := os.RemoveAll(old); err != nil && !errors.Is(err, os.ErrNotExist) {
		logger(env).WithError(err).WithField("folder", old).Warn("removing an old staging folder")
	}
}

// ensureFolder writes the folder marker of prefix with attributes a,
// unless the folder already exists, explicitly or through keys below it.
func ensureFolder(ctx context.Context, st store.Store, prefix string, a layout.Attrs) error {
	for _, err := range st.List(ctx, store.ListOptions{Prefix: prefix, PageSize: 1}) {
		if err != nil {
			return fmt.Errorf("listing %q: %w", prefix, err)
		}
		return nil // something exists under the prefix
	}
	_, err := st.Put(ctx, prefix, strings.NewReader(""), 0, store.PutOptions{IfNoneMatch: true, ContentType: layout.DirContentType, Metadata: a.Metadata()})
	if err != nil && !store.IsPreconditionFailed(err) {
		return fmt.Errorf("writing the marker %q: %w", prefix, err)
	}
	return nil
}

func logger(env Env) logrus.FieldLogger {
	if env.Logger == nil {
		return logrus.StandardLogger()
	}
	return env.Logger
}

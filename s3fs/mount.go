package s3fs

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/s3vol/s3vol/store"
)

// Mounted is a mounted filesystem, returned by Mount. (A Go package cannot
// have both a func and a type named Mount.)
type Mounted struct {
	dir    string
	fsys   *fsys
	server *fuse.Server

	unmountOnce sync.Once
	unmountErr  error
}

// Mount serves opts.Prefix of opts.Store at dir, which must exist. It
// mounts directly (as root), with allow_other and default_permissions
// (the kernel checks modes), 1 MiB requests and raised background
// concurrency. It returns once the mount is ready.
func Mount(dir string, opts Options) (*Mounted, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	f := newFsys(opts, opts.Logger.WithFields(map[string]any{"mountpoint": dir, "store": opts.Store.String(), "prefix": opts.Prefix}))
	f.loadRootAttrs()

	ttl := opts.MetadataTTL
	mountOpts := fuse.MountOptions{
		AllowOther:    true,
		DirectMount:   true,
		FsName:        fsName(opts),
		Name:          "s3vol",
		MaxWrite:      1 << 20,
		MaxBackground: opts.MaxBackground,
		// nodev: device nodes are stored (special.go), never opened as
		// devices.
		Options: []string{"default_permissions", "nodev"},
		// The kernel sends the size with the open when truncating.
		ExtraCapabilities: fuse.CAP_ATOMIC_O_TRUNC,
		Debug:             opts.Debug,
	}
	if opts.ReadOnly {
		mountOpts.Options = append(mountOpts.Options, "ro")
	}
	if opts.Debug {
		mountOpts.Logger = log.New(logWriter{f}, "", 0)
	}
	server, err := serve(dir, f.root, opts.WrapFS, &fs.Options{
		MountOptions:    mountOpts,
		EntryTimeout:    &ttl,
		AttrTimeout:     &ttl,
		NegativeTimeout: &ttl,
		NullPermissions: true,
		// The root gets inode 1, FUSE's root id, rather than 0, which
		// tools take for "no inode". (Other inodes count from 2^63.)
		RootStableAttr: &fs.StableAttr{Ino: fuse.FUSE_ROOT_ID},
	})
	if err != nil {
		return nil, fmt.Errorf("mounting %s at %s: %w", fsName(opts), dir, err)
	}
	if err := setKernelReadAhead(dir, opts.KernelReadAhead); err != nil {
		f.log.WithError(err).Warn("raising the kernel's read-ahead failed; sequential reads will be slower")
	}
	f.log.Info("mounted")
	return &Mounted{dir: dir, fsys: f, server: server}, nil
}

// serve mounts root at dir as fs.Mount does, with the filesystem the
// server calls wrapped by wrap when it is set.
func serve(dir string, root fs.InodeEmbedder, wrap func(fuse.RawFileSystem) fuse.RawFileSystem, opts *fs.Options) (*fuse.Server, error) {
	raw := fs.NewNodeFS(root, opts)
	if wrap != nil {
		raw = wrap(raw)
	}
	server, err := fuse.NewServer(raw, dir, &opts.MountOptions)
	if err != nil {
		return nil, err
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		// fs.Mount leaves the serve loop too: without a mount it ends.
		return nil, err
	}
	return server, nil
}

// setKernelReadAhead raises the read-ahead of the mount's backing device
// (the kernel starts FUSE mounts at 128 KiB), so that sequential reads
// arrive as requests of up to 1 MiB, several in flight, instead of many
// small ones.
func setKernelReadAhead(dir string, bytes int64) error {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	rel := fmt.Sprintf("class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	if err := writeSysfs(rel, []byte(strconv.FormatInt(bytes>>10, 10))); err != nil {
		return fmt.Errorf("setting read_ahead_kb: %w", err)
	}
	return nil
}

// fsName is what mount(8) and df show as the source: the store and prefix.
func fsName(opts Options) string {
	name := "s3vol:" + opts.Store.String()
	if opts.Prefix != "" {
		name += "/" + strings.TrimSuffix(opts.Prefix, "/")
	}
	return strings.NewReplacer(" ", "", ",", "_").Replace(name)
}

// loadRootAttrs reads the attributes of the root from the prefix's
// marker, when the mount serves a prefix that has one.
func (f *fsys) loadRootAttrs() {
	if f.opts.Prefix == "" {
		return
	}
	ctx, cancel := f.requestCtx(context.Background())
	defer cancel()
	obj, err := f.st.Stat(ctx, f.opts.Prefix)
	if err != nil {
		if !store.IsNotFound(err) {
			f.log.WithError(err).Warn("reading the attributes of the root directory; using the defaults")
		}
		return
	}
	_, a := f.attrsFromObject(obj, true)
	a.size = 0
	f.root.attrs, f.root.hasMarker = a, true
}

// Dir is the mountpoint.
func (m *Mounted) Dir() string { return m.dir }

// Flush commits every file with uncommitted changes, for example before a
// snapshot. Files still being written are committed as they are now.
func (m *Mounted) Flush(ctx context.Context) error {
	var errs []error
	for _, n := range m.fsys.dirtyFiles() {
		if err := n.commit(ctx); err != nil {
			errs = append(errs, fmt.Errorf("committing %s: %w", n.name(), err))
		}
	}
	return errors.Join(errs...)
}

// Unmount flushes, then unmounts. When the mount is busy (a process still
// has files open or its cwd inside) it detaches lazily: the mountpoint is
// free at once and the kernel finishes the unmount when the last user
// leaves. Wait returns once the filesystem is no longer served.
func (m *Mounted) Unmount(ctx context.Context) error {
	m.unmountOnce.Do(func() {
		flushErr := m.Flush(ctx)
		err := m.server.Unmount()
		if err != nil {
			m.fsys.log.WithError(err).Warn("unmount failed, detaching lazily")
			if lerr := syscall.Unmount(m.dir, syscall.MNT_DETACH); lerr != nil {
				err = fmt.Errorf("unmounting %s: %w (lazy detach: %v)", m.dir, err, lerr)
			} else {
				err = nil
			}
		}
		m.fsys.background.Wait()
		m.unmountErr = errors.Join(flushErr, err)
		if m.unmountErr == nil {
			m.fsys.log.Info("unmounted")
		}
	})
	return m.unmountErr
}

// Wait blocks until the filesystem is unmounted.
func (m *Mounted) Wait() { m.server.Wait() }

// logWriter sends go-fuse's debug lines to the logger.
type logWriter struct{ f *fsys }

func (w logWriter) Write(p []byte) (int, error) {
	w.f.log.Debug(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitGone is used by tests: it waits until dir is no longer a mountpoint.
func waitGone(dir string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile("/proc/self/mountinfo")
		if err == nil && !strings.Contains(string(data), " "+dir+" ") {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Package driver is s3vol's Docker volume driver: it implements
// go-plugins-helpers' volume.Driver on top of the registry (which volumes
// exist, the organization's limit, mount leases) and keeps one FUSE mount
// per volume or view on this host, shared by all its containers, opened
// through volmount (as `s3vol mount` opens its own).
//
// Get, List, Path and Capabilities answer from memory (see cache); a name
// the cache lacks while the store is not answering gets a transport error,
// never "no such volume" (see CannotTellError); Create,
// Remove and Mount go to the registry; Unmount only counts, and the last one
// tears the mount down after a grace period.
package driver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/registry"
	"github.com/s3vol/s3vol/store"
)

// Config configures a Driver.
type Config struct {
	Registry *registry.Registry
	Data     store.Store // the data store the registry's DataPrefixes live in
	// MountRoot is the folder under which entries are mounted, one folder
	// per entry id.
	MountRoot string
	// CacheDir holds s3fs's staging files (one folder per entry id).
	CacheDir string
	// SnapshotPath keeps the registry cache across restarts ("" keeps none).
	SnapshotPath string
	Buffers      *bufpool.Pool
	MetadataTTL  time.Duration
	// OpTimeout is s3fs.Options.OpTimeout of every mount.
	OpTimeout time.Duration
	// FastListing is s3fs.Options.FastListing of every mount.
	FastListing bool
	// MountGrace is how long a mount stays after its last Unmount.
	MountGrace time.Duration
	// RefreshInterval is how often the registry cache is re-read (default
	// 2 s); leases are re-read every LeaseRefreshInterval (default 15 s).
	RefreshInterval      time.Duration
	LeaseRefreshInterval time.Duration
	// CallTimeout bounds the store work of one Docker call (default 90 s,
	// under dockerd's 2-minute limit for Create and Mount).
	CallTimeout time.Duration
	// TeardownTimeout bounds the flush and unmount of one mount (default 2 min).
	TeardownTimeout time.Duration
	// StaleUploadAge is the age past which unfinished multipart uploads are
	// aborted at start-up (default 24 h: no single file upload takes longer).
	StaleUploadAge time.Duration
	Logger         logrus.FieldLogger
	// WrapFS, when set, gives the wrapper of each mount's filesystem by
	// the entry's name (s3fs.Options.WrapFS): metrics of FUSE requests.
	WrapFS func(name string) func(fuse.RawFileSystem) fuse.RawFileSystem
	// WrapStore, when set, gives the wrapper of the data store each mount
	// uses by the entry's name (volmount.Env.WrapStore): metrics of its
	// object-store calls, per volume.
	WrapStore func(name string) func(store.Store) store.Store
	// AccountBuffers, when set, gives the account of Buffers each mount
	// draws from by the entry's name (volmount.Env.AccountBuffers): its
	// share of the memory budget, per volume.
	AccountBuffers func(name string) func(*bufpool.Pool) *bufpool.Pool
	// OnRemoved, when set, is told of each entry removed through this
	// driver, so that what is kept by its name (metrics) can go.
	OnRemoved func(name string)
	// Usage, when set, gives the last measured usage of an entry by its id
	// (usage.Scanner.Get), from memory; shown in the volume's Status.
	Usage func(id string) (registry.Usage, bool)
	// OnUnmounted, when set, is told of each entry this host has unmounted
	// (its data may have changed: usage.Scanner.Remeasure).
	OnUnmounted func(id string)
}

func (c Config) withDefaults() (Config, error) {
	if c.Registry == nil || c.Data == nil {
		return c, errors.New("driver: Config.Registry and Config.Data are required")
	}
	if !filepath.IsAbs(c.MountRoot) || !filepath.IsAbs(c.CacheDir) {
		return c, fmt.Errorf("driver: MountRoot (%q) and CacheDir (%q) must be absolute paths", c.MountRoot, c.CacheDir)
	}
	if c.Buffers == nil {
		c.Buffers = bufpool.New(256 << 20)
	}
	if c.Logger == nil {
		c.Logger = logrus.StandardLogger()
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.RefreshInterval, 2*time.Second)
	def(&c.LeaseRefreshInterval, 15*time.Second)
	def(&c.CallTimeout, 90*time.Second)
	def(&c.TeardownTimeout, 2*time.Minute)
	def(&c.StaleUploadAge, 24*time.Hour)
	return c, nil
}

// Driver is the volume driver. Create it with New, start its background
// work with Start, and stop it with Shutdown.
type Driver struct {
	cfg   Config
	reg   *registry.Registry
	log   logrus.FieldLogger
	cache *cache

	mu      sync.Mutex
	mounts  map[string]*mount // by entry name
	closing bool

	bgCancel context.CancelFunc
	bg       sync.WaitGroup
	started  chan struct{} // closed when start-up's clean-up has finished

	// onShutdownWait, set by tests, is called when Shutdown is about to
	// wait for the setup of the named mount.
	onShutdownWait func(name string)
}

// New returns a driver; it does no store I/O, so the daemon can serve its
// socket before the store is reached.
func New(cfg Config) (*Driver, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Driver{
		cfg:     cfg,
		reg:     cfg.Registry,
		log:     cfg.Logger,
		cache:   newCache(cfg.SnapshotPath),
		mounts:  map[string]*mount{},
		started: make(chan struct{}),
	}
	if n, err := d.cache.loadSnapshot(); err != nil {
		d.log.WithError(err).Warn("ignoring the registry snapshot")
	} else if n > 0 {
		d.log.WithField("entries", n).Info("seeded the volume cache from the last snapshot")
	}
	if err := d.makeMountRoot(); err != nil {
		return nil, err
	}
	return d, nil
}

// mountRootMode keeps the host's other users out of every volume. Mounts
// use allow_other and volumes default to 0755 folders and 0644 files, so
// the mount root is the one gate, as Docker's own /var/lib/docker (0710)
// is for local volumes. Containers are unaffected: dockerd bind-mounts a
// volume's own mountpoint into them, never passing through the root.
const mountRootMode = 0o700

// makeMountRoot creates the mount root, or closes one an earlier version
// created open.
func (d *Driver) makeMountRoot() error {
	root := d.cfg.MountRoot
	if err := os.MkdirAll(root, mountRootMode); err != nil {
		return fmt.Errorf("creating the mount root %s: %w", root, err)
	}
	st, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("checking the mount root %s: %w", root, err)
	}
	if st.Mode().Perm() == mountRootMode {
		return nil
	}
	if err := os.Chmod(root, mountRootMode); err != nil {
		return fmt.Errorf("closing the mount root %s to other users (mode %v to %v): %w", root, st.Mode().Perm(), os.FileMode(mountRootMode), err)
	}
	d.log.WithFields(logrus.Fields{"mount_root": root, "was": st.Mode().Perm().String(), "now": os.FileMode(mountRootMode).String()}).
		Warn("closed the mount root to other users")
	return nil
}

// Start runs the start-up clean-up (stale mounts, stale uploads, registry
// repair) and then keeps the registry cache fresh until Shutdown.
func (d *Driver) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	d.bgCancel = cancel
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		d.startup(ctx)
		close(d.started)
		d.refreshLoop(ctx)
	}()
}

// Started is closed once start-up's clean-up has finished.
func (d *Driver) Started() <-chan struct{} { return d.started }

// Shutdown stops the background work, then flushes and unmounts every
// mount and releases its lease. Mounts still used by containers are
// unmounted too (lazily), since they cannot outlive the daemon; their
// files are flushed first, so nothing that close() acknowledged is lost.
func (d *Driver) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	d.closing = true
	d.mu.Unlock()
	if d.bgCancel != nil {
		d.bgCancel()
	}
	d.bg.Wait()
	for _, m := range d.allMounts() {
		// A mount still being set up is handled once it is (or has failed
		// to be) mounted: waiting for it to go away by itself would wait
		// out ctx and leave it mounted, its lease held.
		if d.onShutdownWait != nil {
			d.onShutdownWait(m.name)
		}
		waitFor(ctx, m.ready)
		d.mu.Lock()
		if m.grace != nil {
			m.grace.Stop()
			m.grace = nil
		}
		state, uses := m.state, m.total
		if state == mounted {
			m.state = unmounting
		}
		d.mu.Unlock()
		switch state {
		case mounted:
			if uses > 0 {
				d.log.WithFields(logrus.Fields{"volume": m.name, "uses": uses}).Warn("unmounting a volume containers still use: they lose access until the plugin is back")
			}
			d.teardownMount(m, uses > 0)
		case unmounting:
			waitFor(ctx, m.gone)
		}
	}
	if err := d.cache.saveSnapshot(); err != nil {
		d.log.WithError(err).Warn("saving the registry snapshot")
	}
	return ctx.Err()
}

// refreshLoop re-reads the registry every RefreshInterval and the leases
// every LeaseRefreshInterval. Start-up has just done both.
func (d *Driver) refreshLoop(ctx context.Context) {
	tick := time.NewTicker(d.cfg.RefreshInterval)
	defer tick.Stop()
	lastLeases := time.Now()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := d.refreshOnce(ctx); err != nil && ctx.Err() == nil {
			if !failing {
				d.log.WithError(err).Warn("cannot refresh the volume cache; answering from the cached copy")
			}
			failing = true
			continue
		} else if failing && ctx.Err() == nil {
			d.log.Info("volume cache refreshed again")
			failing = false
		}
		if time.Since(lastLeases) >= d.cfg.LeaseRefreshInterval {
			d.refreshLeases(ctx)
			lastLeases = time.Now()
		}
	}
}

func (d *Driver) refreshLeases(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
	defer cancel()
	if err := d.cache.refreshLeases(ctx, d.reg); err != nil && ctx.Err() == nil {
		d.log.WithError(err).Debug("refreshing mount leases")
	}
}

func (d *Driver) refreshOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
	defer cancel()
	if err := d.cache.refresh(ctx, d.reg); err != nil {
		return err
	}
	return d.cache.saveSnapshot()
}

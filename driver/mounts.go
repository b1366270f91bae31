package driver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/registry"
	"github.com/s3vol/s3vol/s3fs"
	"github.com/s3vol/s3vol/volmount"
)

// mount is one FUSE mount of an entry (a volume, or a view: a volume and a
// subpath) on this host, shared by every container that uses the entry.
//
// Docker identifies each use by a mount ID, and reuses IDs (docker cp on a
// running container sends Mount and Unmount with the container's ID), so
// uses are counted per ID, never kept as a set. The last Unmount starts a
// grace timer; the mount is torn down only when it fires with no new use,
// which saves the remount every `docker run` causes (mount at create,
// unmount, mount again at start).
type mount struct {
	name  string
	dir   string
	entry registry.Entry // as of the lease's acquisition

	// Guarded by Driver.mu.
	refs  map[string]int // uses by mount ID
	total int
	state mountState
	grace *time.Timer

	ready chan struct{} // closed when setup has finished (see err)
	err   error         // setup's failure; set before ready is closed
	gone  chan struct{} // closed when teardown has finished

	lease *registry.Lease
	fs    *s3fs.Mounted
}

type mountState int

const (
	mounting mountState = iota
	mounted
	unmounting
)

// acquire counts one use of name by id and returns the entry's mount,
// setting it up (or waiting for the setup in flight) first. A failed
// acquire undoes its own count: Docker never sends Unmount for a Mount that
// failed.
func (d *Driver) acquire(ctx context.Context, name, id string) (*mount, error) {
	for {
		d.mu.Lock()
		if d.closing {
			d.mu.Unlock()
			return nil, errors.New("s3vol is shutting down; try again once it has restarted")
		}
		m := d.mounts[name]
		if m != nil && m.state == unmounting {
			d.mu.Unlock()
			if err := waitFor(ctx, m.gone); err != nil {
				return nil, fmt.Errorf("waiting for the previous mount of %q to finish unmounting: %w", name, err)
			}
			continue
		}
		owner := m == nil
		if owner {
			m = &mount{name: name, refs: map[string]int{}, ready: make(chan struct{}), gone: make(chan struct{})}
			d.mounts[name] = m
		}
		m.refs[id]++
		m.total++
		if m.grace != nil {
			m.grace.Stop()
			m.grace = nil
		}
		d.mu.Unlock()

		if owner {
			d.finishSetup(m, d.setup(ctx, m))
		}
		if err := waitFor(ctx, m.ready); err != nil {
			d.drop(m, id)
			return nil, fmt.Errorf("waiting for the mount of %q: %w", name, err)
		}
		if m.err != nil {
			d.drop(m, id)
			return nil, m.err
		}
		return m, nil
	}
}

// finishSetup publishes the setup's outcome (under d.mu: a waiter whose
// Mount gave up reads m.err in drop while the setup may still run); a
// failed mount leaves the table so that the next Mount tries afresh.
func (d *Driver) finishSetup(m *mount, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m.err = err
	if m.err != nil {
		if d.mounts[m.name] == m {
			delete(d.mounts, m.name)
		}
		close(m.gone)
	} else {
		m.state = mounted
		if m.total == 0 { // every waiter gave up while it was mounting
			d.scheduleTeardownLocked(m)
		}
	}
	close(m.ready)
}

// drop undoes one count of id without tearing anything down (the mount
// failed, or its owner's setup failed).
func (d *Driver) drop(m *mount, id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.uncountLocked(m, id)
	if m.err == nil && m.total == 0 && m.state == mounted {
		d.scheduleTeardownLocked(m)
	}
}

func (d *Driver) uncountLocked(m *mount, id string) bool {
	if m.refs[id] == 0 {
		return false
	}
	m.refs[id]--
	if m.refs[id] == 0 {
		delete(m.refs, id)
	}
	m.total--
	return true
}

// release undoes one use of name by id. Unknown names and IDs are fine:
// Docker sends Unmount for mounts a previous daemon made.
func (d *Driver) release(name, id string) (known bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.mounts[name]
	if m == nil || m.state != mounted || !d.uncountLocked(m, id) {
		return false
	}
	if m.total == 0 {
		d.scheduleTeardownLocked(m)
	}
	return true
}

func (d *Driver) scheduleTeardownLocked(m *mount) {
	if d.cfg.MountGrace <= 0 {
		m.state = unmounting
		go d.teardown(m)
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d.cfg.MountGrace, func() {
		d.mu.Lock()
		if m.grace != t || m.total != 0 || m.state != mounted {
			d.mu.Unlock()
			return
		}
		m.grace = nil
		m.state = unmounting
		d.mu.Unlock()
		d.teardown(m)
	})
	m.grace = t
}

// unmountIdle tears down the entry's mount now if no container uses it
// (it is only waiting out its grace period). It reports whether the entry
// is still in use on this host.
func (d *Driver) unmountIdle(name string) (inUse bool) {
	d.mu.Lock()
	m := d.mounts[name]
	switch {
	case m == nil:
		d.mu.Unlock()
		return false
	case m.state == unmounting:
		d.mu.Unlock()
		<-m.gone
		return false
	case m.total > 0 || m.state != mounted:
		d.mu.Unlock()
		return true
	}
	if m.grace != nil {
		m.grace.Stop()
		m.grace = nil
	}
	m.state = unmounting
	d.mu.Unlock()
	d.teardown(m)
	return false
}

// setup opens the entry's mount: lease, folder, mountpoint, filesystem.
func (d *Driver) setup(ctx context.Context, m *mount) error {
	opened, err := volmount.Open(ctx, d.mountEnv(), volmount.Request{
		Name: m.name,
		Mountpoint: func(e registry.Entry) (string, error) {
			d.cache.put(e)
			m.dir = filepath.Join(d.cfg.MountRoot, e.ID)
			return m.dir, prepareMountpoint(m.dir)
		},
	})
	if err != nil {
		if m.dir != "" {
			os.Remove(m.dir) // only if empty: nothing is mounted on it
		}
		var step *volmount.StepError
		if errors.As(err, &step) {
			return mountError(m.name, step.Step, step.Err)
		}
		return mountError(m.name, "mounting", err)
	}
	m.entry, m.lease, m.fs = opened.Entry, opened.Lease, opened.FS
	d.log.WithFields(logrus.Fields{"volume": m.name, "id": m.entry.ID, "prefix": opened.Prefix, "mountpoint": m.dir, "readOnly": m.entry.ReadOnly()}).Info("mounted")
	return nil
}

// mountEnv is what the driver's mounts share.
func (d *Driver) mountEnv() volmount.Env {
	return volmount.Env{
		Registry: d.reg, Data: d.cfg.Data, CacheDir: d.cfg.CacheDir, Buffers: d.cfg.Buffers,
		MetadataTTL: d.cfg.MetadataTTL, OpTimeout: d.cfg.OpTimeout, FastListing: d.cfg.FastListing,
		Logger: d.log, WrapFS: d.cfg.WrapFS, WrapStore: d.cfg.WrapStore,
		AccountBuffers: d.cfg.AccountBuffers,
	}
}

// teardown flushes every open file, unmounts and releases the lease.
func (d *Driver) teardown(m *mount) { d.teardownMount(m, false) }

// teardownMount is teardown; inUse says containers still use the mount
// (daemon shutdown). Then the filesystem is flushed and detached without
// waiting for its users: another mount namespace (a running container)
// keeps the FUSE connection open, and waiting for it to close would wait
// for the container to exit. The daemon's exit then ends the connection.
// Otherwise the unmount is bounded too, for the same reason: a mount that
// Docker said no container uses can still be held by a stray process.
func (d *Driver) teardownMount(m *mount, inUse bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.TeardownTimeout)
	defer cancel()
	log := d.log.WithFields(logrus.Fields{"volume": m.name, "mountpoint": m.dir})
	if inUse {
		if err := m.fs.Flush(ctx); err != nil {
			log.WithError(err).Error("flushing: files written since their last close may be lost")
		}
		if err := detach(m.dir); err != nil {
			log.WithError(err).Error("detaching the mount")
		}
	} else if err := unmountBounded(ctx, m.fs); err != nil {
		log.WithError(err).Error("unmounting: files written since their last close may be lost")
	}
	// The unmount may have used up ctx; the registry bounds the release's
	// own store call, and a lease not released blocks Remove for a TTL.
	if err := m.lease.Release(context.WithoutCancel(ctx)); err != nil {
		log.WithError(err).Warn("releasing the mount lease (it expires on its own)")
	}
	if err := os.Remove(m.dir); err != nil && !os.IsNotExist(err) {
		log.WithError(err).Warn("removing the mountpoint")
	}
	d.mu.Lock()
	if d.mounts[m.name] == m {
		delete(d.mounts, m.name)
	}
	d.mu.Unlock()
	close(m.gone)
	log.Info("unmounted")
	if d.cfg.OnUnmounted != nil {
		d.cfg.OnUnmounted(m.entry.ID)
	}
}

// mountpoint returns the entry's mountpoint if it is mounted on this host.
func (d *Driver) mountpoint(name string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if m := d.mounts[name]; m != nil && m.state == mounted {
		return m.dir
	}
	return ""
}

// localUses reports how many uses the entry has on this host.
func (d *Driver) localUses(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if m := d.mounts[name]; m != nil {
		return m.total
	}
	return 0
}

// allMounts lists the mounts, for shutdown.
func (d *Driver) allMounts() []*mount {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*mount, 0, len(d.mounts))
	for _, m := range d.mounts {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func waitFor(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unmountBounded unmounts fs, giving up when ctx ends: s3fs's Unmount
// returns only once the kernel has closed the FUSE connection, which a
// process in another mount namespace can delay indefinitely. The mount is
// detached by then; only the serving goroutines linger.
func unmountBounded(ctx context.Context, fs *s3fs.Mounted) error {
	done := make(chan error, 1)
	go func() { done <- fs.Unmount(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("unmount of %s did not finish: %w", fs.Dir(), ctx.Err())
	}
}

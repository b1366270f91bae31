package driver

import (
	"context"
	"errors"
	"time"

	"github.com/docker/go-plugins-helpers/volume"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/registry"
)

// The volume.Driver methods. Each logs one line: the method, the volume,
// the mount ID, the duration and the outcome. Errors are complete sentences
// for the docker CLI, which prints them after "VolumeDriver.<Method>: ".

var _ volume.Driver = (*Driver)(nil)

// cacheWait bounds how long Get and List wait for the cache's first load
// after start-up (dockerd calls Get for every known volume at its start).
const cacheWait = 10 * time.Second

// Create creates a volume (or, with volume= and subpath=, a view). It is
// idempotent, as Docker retries it and compose re-creates. Without options
// it is a get-or-create: `docker run -v name:/data` of an existing volume
// made elsewhere with options must use that volume, not fail.
func (d *Driver) Create(req *volume.CreateRequest) (err error) {
	defer d.logCall("Create", req.Name, "", time.Now(), &err, logrus.Fields{"options": req.Options})
	spec, err := registry.ParseSpec(req.Name, req.Options)
	if err != nil {
		return err
	}
	ctx, cancel := d.callCtx()
	defer cancel()
	var e registry.Entry
	if len(req.Options) == 0 {
		e, _, err = d.reg.GetOrCreate(ctx, spec)
	} else {
		e, _, err = d.reg.Create(ctx, spec)
	}
	if err != nil {
		return userError("create", req.Name, err)
	}
	d.cache.put(e)
	d.refreshAfterChange(ctx)
	return nil
}

// Remove deletes a volume or view through the registry, which refuses while
// any host has it mounted or views point at it. A mount on this host that
// only waits out its grace period is torn down first.
func (d *Driver) Remove(req *volume.RemoveRequest) (err error) {
	defer d.logCall("Remove", req.Name, "", time.Now(), &err, nil)
	if d.unmountIdle(req.Name) {
		return errorf("volume %q is in use by %d container mount(s) on this host; remove those containers first", req.Name, d.localUses(req.Name))
	}
	ctx, cancel := d.callCtx()
	defer cancel()
	if err := d.reg.Delete(ctx, req.Name); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			d.cache.remove(req.Name) // already gone: what Docker wants
			d.removed(req.Name)
			return nil
		}
		// A refused delete marked the entry deleting for a moment; a
		// refresh that read it then must not be what Docker sees next.
		d.refreshAfterChange(ctx)
		return userError("remove", req.Name, err)
	}
	d.cache.remove(req.Name)
	d.removed(req.Name)
	d.refreshAfterChange(ctx)
	return nil
}

// removed tells Config.OnRemoved that name is gone.
func (d *Driver) removed(name string) {
	if d.cfg.OnRemoved != nil {
		d.cfg.OnRemoved(name)
	}
}

// Mount mounts the entry (or shares its existing mount) for one use by id.
func (d *Driver) Mount(req *volume.MountRequest) (res *volume.MountResponse, err error) {
	defer d.logCall("Mount", req.Name, req.ID, time.Now(), &err, nil)
	ctx, cancel := d.callCtx()
	defer cancel()
	m, err := d.acquire(ctx, req.Name, req.ID)
	if err != nil {
		return nil, err
	}
	return &volume.MountResponse{Mountpoint: m.dir}, nil
}

// Unmount ends one use by id; the last one tears the mount down after the
// grace period. Unknown names and IDs succeed.
func (d *Driver) Unmount(req *volume.UnmountRequest) (err error) {
	start := time.Now()
	known := d.release(req.Name, req.ID)
	d.logCall("Unmount", req.Name, req.ID, start, &err, logrus.Fields{"known": known})
	return nil
}

// Path returns the entry's mountpoint on this host ("" when not mounted).
func (d *Driver) Path(req *volume.PathRequest) (res *volume.PathResponse, err error) {
	defer d.logCall("Path", req.Name, "", time.Now(), &err, nil)
	if _, err := d.lookup(req.Name); err != nil {
		return nil, err
	}
	return &volume.PathResponse{Mountpoint: d.mountpoint(req.Name)}, nil
}

// Get describes one entry from the cache.
func (d *Driver) Get(req *volume.GetRequest) (res *volume.GetResponse, err error) {
	defer d.logCall("Get", req.Name, "", time.Now(), &err, nil)
	e, err := d.lookup(req.Name)
	if err != nil {
		return nil, err
	}
	return &volume.GetResponse{Volume: d.describe(e, true)}, nil
}

// List describes every entry from the cache.
func (d *Driver) List() (res *volume.ListResponse, err error) {
	defer d.logCall("List", "", "", time.Now(), &err, nil)
	ctx, cancel := context.WithTimeout(context.Background(), cacheWait)
	defer cancel()
	if !d.cache.waitLoaded(ctx) {
		return nil, d.notLoaded()
	}
	entries := d.cache.list()
	res = &volume.ListResponse{Volumes: make([]*volume.Volume, 0, len(entries))}
	for _, e := range entries {
		res.Volumes = append(res.Volumes, d.describe(e, false))
	}
	return res, nil
}

// Capabilities says volumes are global: every host sees the same ones.
func (d *Driver) Capabilities() *volume.CapabilitiesResponse {
	d.log.WithField("method", "Capabilities").Debug("docker call")
	return &volume.CapabilitiesResponse{Capabilities: volume.Capability{Scope: "global"}}
}

// Has reports whether name is a volume or view of this organization, from
// the cache (the authorization plugin asks on every container create).
func (d *Driver) Has(name string) bool {
	_, ok := d.cache.get(name)
	return ok
}

// lookup finds an entry in the cache. A name the cache lacks is "no such
// volume" only when the cache's last refresh from the store succeeded: a
// snapshot, or a cache the store has stopped answering, may lack a volume
// that exists. Until the store answers, lookup waits (bounded) for the
// first refresh; once a refresh has failed it answers at once that it
// cannot tell, which Docker must not take for "no such volume" (see
// CannotTellError).
func (d *Driver) lookup(name string) (registry.Entry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cacheWait)
	defer cancel()
	for {
		e, p, why, next := d.cache.find(name)
		switch {
		case p == present:
			return e, nil
		case p == absent:
			return registry.Entry{}, notFound(name, d.reg.OrgName())
		case why != nil:
			return registry.Entry{}, d.cannotTell(name, why)
		}
		if waitFor(ctx, next) != nil {
			return registry.Entry{}, d.cannotTell(name, errors.New("the object store has not answered yet"))
		}
	}
}

// refreshAfterChange re-reads the registry after this host changed it, so
// that usage and the other hosts' changes are current at once; a failure
// leaves the local change in place for the background refresh to confirm.
func (d *Driver) refreshAfterChange(ctx context.Context) {
	if err := d.cache.refresh(ctx, d.reg); err != nil {
		d.log.WithError(err).Debug("refreshing the volume cache after a change")
		return
	}
	if err := d.cache.saveSnapshot(); err != nil {
		d.log.WithError(err).Warn("saving the registry snapshot")
	}
}

func (d *Driver) notLoaded() error {
	d.cache.mu.RLock()
	last := d.cache.lastErr
	d.cache.mu.RUnlock()
	if last != nil {
		return errorf("s3vol cannot list volumes yet: the object store has not answered since start-up (%v)", last)
	}
	return errorf("s3vol cannot list volumes yet: it is still loading them from the object store; try again in a moment")
}

func (d *Driver) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d.cfg.CallTimeout)
}

// logCall writes the one line each Docker call gets.
func (d *Driver) logCall(method, name, id string, start time.Time, err *error, extra logrus.Fields) {
	f := logrus.Fields{"method": method, "duration": time.Since(start).Round(time.Microsecond).String()}
	if name != "" {
		f["volume"] = name
	}
	if id != "" {
		f["mountID"] = shortID(id)
	}
	for k, v := range extra {
		if v != nil {
			f[k] = v
		}
	}
	log := d.log.WithFields(f)
	switch {
	case *err != nil:
		log.WithError(*err).Warn("docker call failed")
	case method == "Get" || method == "List" || method == "Path":
		log.Debug("docker call ok") // dockerd calls these constantly
	default:
		log.Info("docker call ok")
	}
}

// shortID abbreviates Docker's 64-hex mount IDs, as docker ps does.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

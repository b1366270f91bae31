package authz

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/docker/go-plugins-helpers/volume"
)

// folderDriver is a real, minimal volume driver whose volumes are folders
// under root. The tests serve it next to the authorization plugin on one
// socket, so dockerd knows a volume driver by the name the plugin checks
// for, and the combined handler is exercised for both protocols.
type folderDriver struct {
	root string

	mu      sync.Mutex
	created map[string]time.Time
}

var _ volume.Driver = (*folderDriver)(nil)

func newFolderDriver(root string) *folderDriver {
	return &folderDriver{root: root, created: map[string]time.Time{}}
}

// Has answers the plugin's "is this an s3vol volume" lookup from memory,
// like the real driver's registry cache.
func (d *folderDriver) Has(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.created[name]
	return ok
}

func (d *folderDriver) dir(name string) string { return filepath.Join(d.root, name) }

func (d *folderDriver) Create(r *volume.CreateRequest) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := os.MkdirAll(d.dir(r.Name), 0o755); err != nil {
		return fmt.Errorf("creating volume %q: %w", r.Name, err)
	}
	if _, ok := d.created[r.Name]; !ok {
		d.created[r.Name] = time.Now()
	}
	return nil
}

func (d *folderDriver) Remove(r *volume.RemoveRequest) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.created, r.Name)
	if err := os.RemoveAll(d.dir(r.Name)); err != nil {
		return fmt.Errorf("removing volume %q: %w", r.Name, err)
	}
	return nil
}

func (d *folderDriver) Get(r *volume.GetRequest) (*volume.GetResponse, error) {
	v, err := d.volume(r.Name)
	if err != nil {
		return nil, err
	}
	return &volume.GetResponse{Volume: v}, nil
}

func (d *folderDriver) volume(name string) (*volume.Volume, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.created[name]
	if !ok {
		return nil, fmt.Errorf("no such volume %q", name)
	}
	return &volume.Volume{Name: name, Mountpoint: d.dir(name), CreatedAt: at.Format(time.RFC3339)}, nil
}

func (d *folderDriver) List() (*volume.ListResponse, error) {
	d.mu.Lock()
	names := make([]string, 0, len(d.created))
	for n := range d.created {
		names = append(names, n)
	}
	d.mu.Unlock()
	sort.Strings(names)
	res := &volume.ListResponse{}
	for _, n := range names {
		if v, err := d.volume(n); err == nil {
			res.Volumes = append(res.Volumes, v)
		}
	}
	return res, nil
}

func (d *folderDriver) Path(r *volume.PathRequest) (*volume.PathResponse, error) {
	v, err := d.volume(r.Name)
	if err != nil {
		return nil, err
	}
	return &volume.PathResponse{Mountpoint: v.Mountpoint}, nil
}

func (d *folderDriver) Mount(r *volume.MountRequest) (*volume.MountResponse, error) {
	v, err := d.volume(r.Name)
	if err != nil {
		return nil, err
	}
	return &volume.MountResponse{Mountpoint: v.Mountpoint}, nil
}

func (d *folderDriver) Unmount(*volume.UnmountRequest) error { return nil }

func (d *folderDriver) Capabilities() *volume.CapabilitiesResponse {
	return &volume.CapabilitiesResponse{Capabilities: volume.Capability{Scope: "local"}}
}

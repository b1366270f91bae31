package driver

import "github.com/s3vol/s3vol/registry"

// Overview is every volume and view as the dashboard shows them. It is
// read from memory: Overview never waits on the store.
type Overview struct {
	// Loaded is true once the registry has been read from the store.
	Loaded bool
	Org    registry.OrgInfo
	// Entries are sorted by name.
	Entries []EntryInfo
}

// EntryInfo is one entry with what this host knows about it.
type EntryInfo struct {
	registry.Entry
	// MountedOn lists the hosts that have it mounted, with their counts
	// ("none" when no host has).
	MountedOn string
	// Usage is its last measurement; UsageKnown is false when there is none.
	Usage      registry.Usage
	UsageKnown bool
	// Views are the names of the views of a volume.
	Views []string
}

// Overview returns every entry now.
func (d *Driver) Overview() Overview {
	entries := d.cache.list()
	o := Overview{Loaded: d.cache.isFresh(), Org: d.cache.orgInfo(), Entries: make([]EntryInfo, 0, len(entries))}
	views := map[string][]string{} // by volume id
	for _, e := range entries {
		if e.Kind == registry.KindView {
			views[e.VolumeID] = append(views[e.VolumeID], e.Name)
		}
	}
	for _, e := range entries {
		u, known := d.usage(e.ID)
		o.Entries = append(o.Entries, EntryInfo{Entry: e, MountedOn: d.mountedOn(e), Usage: u, UsageKnown: known, Views: views[e.ID]})
	}
	return o
}

// Entries lists every volume and view from memory (for the usage scanner).
func (d *Driver) Entries() []registry.Entry { return d.cache.list() }

package driver

import "github.com/s3vol/s3vol/registry"

// Stats is what the driver knows at one moment, for metrics and health.
// It is read from memory: Stats never waits on the store.
type Stats struct {
	// Loaded is true once the registry has been read from the store
	// itself (a snapshot from the last run does not count).
	Loaded bool
	// LoadErr is the last refresh's failure, nil once one succeeded.
	LoadErr error
	Org     registry.OrgInfo
	// Mounts holds the uses (containers) of each entry mounted or being
	// mounted on this host, by name.
	Mounts map[string]int
}

// Stats returns the driver's state now.
func (d *Driver) Stats() Stats {
	s := Stats{Loaded: d.cache.isFresh(), Org: d.cache.orgInfo(), Mounts: map[string]int{}}
	d.cache.mu.RLock()
	s.LoadErr = d.cache.lastErr
	d.cache.mu.RUnlock()
	d.mu.Lock()
	for name, m := range d.mounts {
		s.Mounts[name] = m.total
	}
	d.mu.Unlock()
	return s
}

package driver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/s3vol/s3vol/registry"
)

// cache is this host's copy of the organization's registry: Get, List and
// Path answer from it, never from the store, so they are fast and keep
// working while the store is briefly unreachable (Docker takes a Get error
// for "no such volume" and forgets the volume's labels).
//
// A background loop refreshes it from the registry (one index read);
// Create and Remove update it at once. A snapshot kept in the state folder
// seeds it at start-up, so a restarted daemon answers Get for known volumes
// before it has reached the store. Only the store can say that a name does
// not exist: a name missing from a snapshot, or from a cache whose last
// refresh failed, is unknown (find).
type cache struct {
	mu       sync.RWMutex
	entries  map[string]registry.Entry // by name
	org      registry.OrgInfo
	leases   map[string][]registry.LeaseInfo // by entry id, from the slower lease scan
	loaded   bool                            // entries came from the store or a snapshot
	loadedCh chan struct{}                   // closed once loaded
	freshCh  chan struct{}                   // closed once loaded from the store itself
	// refreshed is closed (and replaced) when a refresh ends, either way,
	// so a lookup can wait for the next answer from the store.
	refreshed chan struct{}
	// appliedStart is when the refresh whose result the cache holds
	// started: refreshes overlap (the background loop, one after a
	// change), and an older read must not replace a newer one.
	appliedStart time.Time
	lastErr      error // of the last refresh; nil once one succeeds
	lastOK       time.Time

	// local holds this host's own creates and removes made after the start
	// of the refresh in flight, so that a refresh that read the index
	// before them cannot undo them in the cache.
	local map[string]localChange

	snapshot  string     // path of the snapshot file; "" keeps none
	saveMu    sync.Mutex // serializes saves; guards lastSaved
	lastSaved []byte     // the snapshot last written, to skip identical writes
}

type localChange struct {
	at      time.Time
	entry   registry.Entry
	deleted bool
}

func newCache(snapshot string) *cache {
	return &cache{
		entries:  map[string]registry.Entry{},
		leases:   map[string][]registry.LeaseInfo{},
		local:    map[string]localChange{},
		loadedCh: make(chan struct{}),
		freshCh:  make(chan struct{}),
		snapshot: snapshot,

		refreshed: make(chan struct{}),
	}
}

// snapshotFile is the cache's on-disk form. It is written only from a
// cache loaded from the store, and it never makes a name's absence
// authoritative: only the store can say a volume does not exist.
type snapshotFile struct {
	SavedAt time.Time        `json:"savedAt"`
	Org     registry.OrgInfo `json:"org"`
	Entries []registry.Entry `json:"entries"`
}

// loadSnapshot seeds the cache from the snapshot file, if there is one.
func (c *cache) loadSnapshot() (int, error) {
	if c.snapshot == "" {
		return 0, nil
	}
	b, err := os.ReadFile(c.snapshot)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the registry snapshot: %w", err)
	}
	var s snapshotFile
	if err := json.Unmarshal(b, &s); err != nil {
		return 0, fmt.Errorf("reading the registry snapshot %s: %w", c.snapshot, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range s.Entries {
		c.entries[e.Name] = e
	}
	c.org = s.Org
	c.markLoadedLocked()
	return len(s.Entries), nil
}

// isFresh reports whether the cache has been loaded from the store.
func (c *cache) isFresh() bool {
	select {
	case <-c.freshCh:
		return true
	default:
		return false
	}
}

// saveSnapshot writes the cache to the snapshot file, unless the cache was
// never loaded from the store: a daemon that never reached the store (say,
// stopped by `docker plugin disable -f` while the store was down) must not
// overwrite the last good snapshot with what it does not know.
func (c *cache) saveSnapshot() error {
	if c.snapshot == "" || !c.isFresh() {
		return nil
	}
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.mu.RLock()
	s := snapshotFile{SavedAt: c.lastOK.UTC(), Org: c.org, Entries: c.listLocked()}
	c.mu.RUnlock()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if bytes.Equal(b, c.lastSaved) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.snapshot), 0o700); err != nil {
		return fmt.Errorf("saving the registry snapshot: %w", err)
	}
	tmp := c.snapshot + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("saving the registry snapshot: %w", err)
	}
	if err := os.Rename(tmp, c.snapshot); err != nil {
		return fmt.Errorf("saving the registry snapshot: %w", err)
	}
	c.lastSaved = b
	return nil
}

func (c *cache) markLoadedLocked() {
	if !c.loaded {
		c.loaded = true
		close(c.loadedCh)
	}
}

// waitLoaded waits (bounded by ctx) until the cache holds the registry's
// content, from the store or a snapshot, so a daemon that just started does
// not deny known volumes.
func (c *cache) waitLoaded(ctx context.Context) bool { return waitFor(ctx, c.loadedCh) == nil }

// refresh reads the registry and replaces the cache's entries, keeping the
// local changes made since started.
func (c *cache) refresh(ctx context.Context, reg *registry.Registry) error {
	started := time.Now()
	entries, org, err := reg.ListAndOrg(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.refreshed)
	c.refreshed = make(chan struct{})
	if err != nil {
		c.lastErr = err
		return err
	}
	if started.Before(c.appliedStart) {
		return nil // a refresh that started later has landed: this read is older
	}
	c.appliedStart = started
	fresh := make(map[string]registry.Entry, len(entries))
	for _, e := range entries {
		fresh[e.Name] = e
	}
	for name, ch := range c.local {
		switch {
		case ch.at.Before(started.Add(-time.Minute)):
			delete(c.local, name) // long since reflected in the index
		case ch.at.Before(started):
		case ch.deleted:
			delete(fresh, name)
		default:
			fresh[name] = ch.entry
		}
	}
	c.entries, c.org, c.lastErr, c.lastOK = fresh, org, nil, time.Now()
	c.markLoadedLocked()
	select {
	case <-c.freshCh:
	default:
		close(c.freshCh)
	}
	return nil
}

// put records an entry this host created (or found) just now.
func (c *cache) put(e registry.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[e.Name]; !ok && e.Kind == registry.KindVolume {
		c.org.Used++
	}
	c.entries[e.Name] = e
	c.local[e.Name] = localChange{at: time.Now(), entry: e}
}

// remove records an entry this host deleted just now.
func (c *cache) remove(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[name]; ok && e.Kind == registry.KindVolume && c.org.Used > 0 {
		c.org.Used--
	}
	delete(c.entries, name)
	c.local[name] = localChange{at: time.Now(), deleted: true}
}

// presence is what the cache can say about a name.
type presence int

const (
	present presence = iota
	absent           // the store said so at the last refresh
	unknown          // not loaded from the store yet, or its last refresh failed
)

// find looks name up. When the answer is unknown it also returns why (the
// last refresh's error, nil while the first is still under way) and a
// channel closed when the next refresh ends.
func (c *cache) find(name string) (registry.Entry, presence, error, <-chan struct{}) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e, ok := c.entries[name]; ok {
		return e, present, nil, nil
	}
	if c.lastErr == nil && c.isFresh() {
		return registry.Entry{}, absent, nil, nil
	}
	return registry.Entry{}, unknown, c.lastErr, c.refreshed
}

func (c *cache) get(name string) (registry.Entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[name]
	return e, ok
}

func (c *cache) list() []registry.Entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.listLocked()
}

func (c *cache) listLocked() []registry.Entry {
	out := make([]registry.Entry, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (c *cache) orgInfo() registry.OrgInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.org
}

func (c *cache) leasesOf(id string) []registry.LeaseInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.leases[id]
}

// refreshLeases reads every lease of the organization (one listing) for
// the "mounted on" line of the volumes' status.
func (c *cache) refreshLeases(ctx context.Context, reg *registry.Registry) error {
	all, err := reg.AllLeases(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leases = all
	return nil
}

package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/s3vol/s3vol/store"
)

// index is the organization's one metadata object: its limit, every entry
// by name, and the trash of deleted volumes whose data is being removed.
type index struct {
	Version int                `json:"version"`
	Org     string             `json:"org"`
	Limit   *int               `json:"limit,omitempty"` // nil: DefaultLimit
	Entries map[string]*record `json:"entries"`
	Trash   []trashRecord      `json:"trash,omitempty"`
	Updated time.Time          `json:"updated"`
}

const indexVersion = 1

// record is an entry as stored in the index (by name).
type record struct {
	ID         string            `json:"id"`
	Kind       Kind              `json:"kind"`
	State      State             `json:"state"`
	Reason     string            `json:"reason,omitempty"`
	CreatedAt  time.Time         `json:"createdAt"`
	StateSince time.Time         `json:"stateSince"`
	CreatedBy  string            `json:"createdBy,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Options    Options           `json:"options"`
	// VolumeID and Subpath are set for views.
	VolumeID string `json:"volumeId,omitempty"`
	Subpath  string `json:"subpath,omitempty"`
	// While deleting: the state to restore if the delete is refused, and
	// the token of the delete attempt that owns the mark.
	PrevState State  `json:"prevState,omitempty"`
	DeleteTok string `json:"deleteToken,omitempty"`
}

// trashRecord is a removed entry whose data and leases are still to purge.
type trashRecord struct {
	ID         string    `json:"id"`
	Kind       Kind      `json:"kind"`
	Name       string    `json:"name"`
	DataPrefix string    `json:"dataPrefix,omitempty"` // volumes only
	Since      time.Time `json:"since"`
	// NotBefore is when the purge may start (zero: at once); see trash.
	NotBefore time.Time `json:"notBefore,omitzero"`
}

func newIndex(org string) *index {
	return &index{Version: indexVersion, Org: org, Entries: map[string]*record{}}
}

func (ix *index) limit() int {
	if ix.Limit == nil {
		return DefaultLimit
	}
	return *ix.Limit
}

// used counts the entries that count toward the limit: volumes, any state.
func (ix *index) used() int {
	n := 0
	for _, r := range ix.Entries {
		if r.Kind == KindVolume {
			n++
		}
	}
	return n
}

// lookup finds an entry by name, then by id.
func (ix *index) lookup(nameOrID string) (string, *record) {
	if r := ix.Entries[nameOrID]; r != nil {
		return nameOrID, r
	}
	for name, r := range ix.Entries {
		if r.ID == nameOrID {
			return name, r
		}
	}
	return "", nil
}

// byID finds an entry's name and record by id.
func (ix *index) byID(id string) (string, *record) {
	for name, r := range ix.Entries {
		if r.ID == id {
			return name, r
		}
	}
	return "", nil
}

// viewsOf lists the names of the views that point at a volume, sorted.
func (ix *index) viewsOf(volumeID string) []string {
	var names []string
	for name, r := range ix.Entries {
		if r.Kind == KindView && r.VolumeID == volumeID {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

func (ix *index) trashed(id string) bool {
	for _, t := range ix.Trash {
		if t.ID == id {
			return true
		}
	}
	return false
}

// indexKey is the index object's key in the metadata store.
func (r *Registry) indexKey() string { return r.orgPrefix() + "index.json" }

func (r *Registry) orgPrefix() string { return r.cfg.Prefix + "orgs/" + r.cfg.Org + "/" }

// maxIndexSize bounds what load reads, so a corrupt object cannot exhaust
// memory (100,000 entries of about 400 bytes fit).
const maxIndexSize = 64 << 20

// load reads the index and its ETag. A missing index is an empty one with
// an empty ETag (the next save then creates it with IfNoneMatch).
func (r *Registry) load(ctx context.Context) (*index, string, error) {
	ctx, cancel := r.callCtx(ctx)
	defer cancel()
	rc, obj, err := r.cfg.Meta.Get(ctx, r.indexKey(), store.GetOptions{})
	if store.IsNotFound(err) {
		return newIndex(r.cfg.Org), "", nil
	}
	if err != nil {
		return nil, "", r.storeErr("reading", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxIndexSize+1))
	if err != nil {
		return nil, "", r.storeErr("reading", err)
	}
	if len(data) > maxIndexSize {
		return nil, "", fmt.Errorf("registry: index of organization %q in %s is over %d bytes", r.cfg.Org, r.cfg.Meta, maxIndexSize)
	}
	ix := newIndex(r.cfg.Org)
	if err := json.Unmarshal(data, ix); err != nil {
		return nil, "", fmt.Errorf("registry: index of organization %q (%s in %s) is corrupt: %w", r.cfg.Org, r.indexKey(), r.cfg.Meta, err)
	}
	if ix.Version > indexVersion {
		return nil, "", fmt.Errorf("registry: index of organization %q has format %d; this s3vol understands up to %d: upgrade it", r.cfg.Org, ix.Version, indexVersion)
	}
	if ix.Entries == nil {
		ix.Entries = map[string]*record{}
	}
	return ix, obj.ETag, nil
}

// save writes the index if it still has the ETag it was read with.
func (r *Registry) save(ctx context.Context, ix *index, etag string) error {
	ix.Version = indexVersion
	ix.Org = r.cfg.Org
	ix.Updated = r.now()
	data, err := json.MarshalIndent(ix, "", " ")
	if err != nil {
		return fmt.Errorf("registry: encoding the index: %w", err)
	}
	opts := store.PutOptions{ContentType: "application/json", IfMatch: etag, IfNoneMatch: etag == ""}
	ctx, cancel := r.callCtx(ctx)
	defer cancel()
	_, err = r.cfg.Meta.Put(ctx, r.indexKey(), bytes.NewReader(data), int64(len(data)), opts)
	return err
}

// errNoChange, returned by an update function, ends the update without a
// write: the function found the index already as it wanted it.
var errNoChange = errors.New("no change")

// maxCASAttempts bounds the compare-and-swap retries of one update. Each
// attempt that loses does so because another host's write won, so the
// organization as a whole always makes progress; the bound only stops one
// caller from waiting forever behind a flood of others.
const maxCASAttempts = 40

// update applies fn to the current index and saves the result with a
// compare-and-swap, re-reading and re-applying fn when another writer got
// there first. fn must decide from the index it is given alone (it may run
// several times). It returns the index as saved (or as read, when fn
// returned errNoChange).
func (r *Registry) update(ctx context.Context, op string, fn func(ix *index) error) (*index, error) {
	// Writers on this host queue here instead of failing each other's
	// CAS; hosts still race through the store.
	r.mu.Lock()
	defer r.mu.Unlock()
	for attempt := 1; ; attempt++ {
		ix, etag, err := r.load(ctx)
		if err != nil {
			return nil, err
		}
		if err := fn(ix); err != nil {
			if errors.Is(err, errNoChange) {
				return ix, nil
			}
			return nil, err
		}
		err = r.save(ctx, ix, etag)
		if err == nil {
			return ix, nil
		}
		if !store.IsPreconditionFailed(err) {
			return nil, r.storeErr("writing", err)
		}
		if r.cfg.OnConflict != nil {
			r.cfg.OnConflict()
		}
		if attempt == maxCASAttempts {
			return nil, errorf(ErrConflict, "%s: the index of organization %q kept changing under %d attempts; other hosts are writing it heavily, retry", op, r.cfg.Org, attempt)
		}
		r.log.WithFields(map[string]any{"op": op, "attempt": attempt}).Debug("registry: index changed concurrently, retrying")
		if err := sleepCtx(ctx, backoff(attempt)); err != nil {
			return nil, fmt.Errorf("registry: %s: %w", op, err)
		}
	}
}

// backoff is a jittered exponential delay: 5 ms doubling to at most 500 ms.
func backoff(attempt int) time.Duration {
	d := 5 * time.Millisecond << min(attempt-1, 7)
	d = min(d, 500*time.Millisecond)
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Registry) storeErr(what string, err error) error {
	return fmt.Errorf("registry: %s the index of organization %q in %s: %w", what, r.cfg.Org, r.cfg.Meta, err)
}
